# cllama perplexity on SmolLM2 and GPL-3 against llama-perplexity's figures (PPL, and the
# KL divergence of a Q4_0 against the Q4_1 base); skipped without the model.
add_test(NAME perplexity COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_perplexity.py ${CLLAMA_BIN}
         ${SMOLLM2} ${TESTDATA} ${CMAKE_CURRENT_SOURCE_DIR}/data/perplexity/smollm2-kld-c128.json
         ${CMAKE_CURRENT_BINARY_DIR}/perplexity)
set_tests_properties(perplexity PROPERTIES SKIP_RETURN_CODE 77)
