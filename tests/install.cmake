# The installed package: cmake --install, the example built through pkg-config (with
# this build's compiler, and its sanitizer flags when the library carries them).
set(EXAMPLE_CFLAGS "")
if(CLLAMA_SANITIZE)
  set(EXAMPLE_CFLAGS "-fsanitize=address,undefined")
endif()
add_test(NAME install_example
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install_example.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
          ${TESTDATA}/models/tiny-llama2-s1-f16.gguf ${TESTDATA}/golden/tiny-llama2-s1-f16.json
          ${CMAKE_CURRENT_BINARY_DIR}/install)
set_tests_properties(install_example PROPERTIES SKIP_RETURN_CODE 77
                     ENVIRONMENT "CC=${CMAKE_C_COMPILER};EXAMPLE_CFLAGS=${EXAMPLE_CFLAGS}")
