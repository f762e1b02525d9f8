# Model-file and command-line error handling.
cl_add_unit_test(test_bad_models NO_TEST SOURCES test_bad_models.c)
add_test(NAME bad_models COMMAND test_bad_models ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf ${CMAKE_CURRENT_BINARY_DIR})
set(CLI_MODEL ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf)
add_test(NAME cli_errors COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/need.sh ${CLI_MODEL} --
         sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh ${CLLAMA_BIN} ${CLI_MODEL})
set_tests_properties(bad_models cli_errors PROPERTIES SKIP_RETURN_CODE 77)

# The README's table of commands lists every option each -h shows.
add_test(NAME readme_options COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_readme_options.py ${CLLAMA_BIN}
         ${CMAKE_SOURCE_DIR}/README.md)
