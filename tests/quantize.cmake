# cllama quantize: files byte-identical to llama-quantize's (tests/data/quantize_ref),
# legacy blocks equal to the gguf package's, bad input refused with nothing left behind.
add_test(NAME quantize COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_quantize.py ${CLLAMA_BIN}
         ${TESTDATA} ${CMAKE_CURRENT_SOURCE_DIR}/data/quantize_ref/tiny-llama2-f16.json ${SMOLLM2}
         ${CMAKE_CURRENT_BINARY_DIR}/quantize)
set_tests_properties(quantize PROPERTIES SKIP_RETURN_CODE 77)
