# The installed package: cmake --install, the example built through pkg-config.
add_test(NAME install_example
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install_example.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
          ${TESTDATA}/models/tiny-llama2-s1-f16.gguf ${TESTDATA}/golden/tiny-llama2-s1-f16.json
          ${CMAKE_CURRENT_BINARY_DIR}/install)
set_tests_properties(install_example PROPERTIES SKIP_RETURN_CODE 77)
