# cllama quality: the table on SmolLM2 against llama-perplexity's and llama-quantize's
# figures (the SmolLM2 part skipped without the model), a synthetic shape, bad input.
add_test(NAME quality COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_quality.py ${CLLAMA_BIN}
         ${SMOLLM2} ${CMAKE_CURRENT_SOURCE_DIR}/data/perplexity/smollm2-kld-c128.json ${CMAKE_CURRENT_BINARY_DIR}/quality)
set_tests_properties(quality PROPERTIES SKIP_RETURN_CODE 77)
