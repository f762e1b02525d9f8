# Model-file and command-line error handling.
add_executable(test_bad_models test_bad_models.c)
target_include_directories(test_bad_models PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_bad_models PRIVATE cllama)
add_test(NAME bad_models COMMAND test_bad_models ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME cli_errors COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh ${CLLAMA_BIN}
         ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf)
