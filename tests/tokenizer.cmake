# Tokenizer: llama.cpp's tokenizer cases on the Llama 2 / Llama 3 vocabularies, round
# trips, special tokens, BOS, invalid UTF-8, UTF-8 streaming, hostile vocabularies.
cl_add_unit_test(test_tokenizer SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer.c ARGS ${TESTDATA})

# The CLI: output formats and exit codes (1 runtime error, 2 usage error).
set(TOK_V2 ${TESTDATA}/vocab/llama2-vocab.gguf)
set(TOK_V3 ${TESTDATA}/vocab/llama3-vocab.gguf)
set(NEED sh ${CMAKE_CURRENT_SOURCE_DIR}/need.sh)
add_test(NAME tokenize_cli_ids COMMAND ${NEED} ${TOK_V3} -- ${CLLAMA_BIN} tokenize -m ${TOK_V3} -p "Hello world<|eot_id|>" --special --ids)
set_tests_properties(tokenize_cli_ids PROPERTIES PASS_REGULAR_EXPRESSION "^\\[128000, 9906, 1917, 128009\\]\n$")
# (CMake turns the \n in the argument into a newline; the CLI prints it escaped)
add_test(NAME tokenize_cli_pieces COMMAND ${NEED} ${TOK_V2} -- ${CLLAMA_BIN} tokenize -m ${TOK_V2} -p "Hello\n world")
set_tests_properties(tokenize_cli_pieces PROPERTIES PASS_REGULAR_EXPRESSION
                     "^1\t'<s>'\n15043\t' Hello'\n13\t'\\\\n'\n3186\t' world'\n$")
add_test(NAME tokenize_cli_exit_codes COMMAND ${NEED} ${TOK_V2} -- sh -c "
  \"$0\" tokenize -h | grep -q '^usage: cllama tokenize' || exit 10
  \"$0\" tokenize -m \"$1\" -p hi --bogus 2>/dev/null; [ $? -eq 2 ] || exit 11
  \"$0\" tokenize -m \"$1\" -p 2>/dev/null; [ $? -eq 2 ] || exit 12
  \"$0\" tokenize -m \"$1\" 2>/dev/null; [ $? -eq 2 ] || exit 13
  \"$0\" tokenize -m \"$1\" -p a -f b 2>/dev/null; [ $? -eq 2 ] || exit 14
  \"$0\" tokenize -m /nonexistent.gguf -p hi 2>/dev/null; [ $? -eq 1 ] || exit 15
  \"$0\" tokenize -m \"$1\" -f /nonexistent.txt 2>/dev/null; [ $? -eq 1 ] || exit 16
  [ \"$(\"$0\" tokenize -m \"$1\" -p '' --no-bos --ids)\" = '[]' ] || exit 17
  exit 0" ${CLLAMA_BIN} ${TOK_V2})

# The public streaming detokenizer against Python's UTF-8 decoder.
cl_add_api_test(detok_dump NO_TEST SOURCES detok_dump.c)
add_test(NAME detok_python COMMAND ${NEED} ${TOK_V2} -- ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_detok.py
         $<TARGET_FILE:detok_dump> ${TOK_V2})

# Invalid UTF-8 against the reference engine's ids, all three vocabulary kinds.
add_test(NAME tokenize_invalid_utf8 COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_invalid_utf8.py
         ${CLLAMA_BIN} ${TOK_V2} ${TOK_V3} ${SMOLLM2} ${TESTDATA}/reference/invalid-utf8.json
         ${CMAKE_CURRENT_SOURCE_DIR}/data/invalid_utf8_more.json)
set_tests_properties(tokenize_invalid_utf8 PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(test_tokenizer tokenize_cli_ids tokenize_cli_pieces tokenize_cli_exit_codes detok_python
                     PROPERTIES SKIP_RETURN_CODE 77)

# llama.cpp's tokenizer suite, every text-generation vocabulary family it has (files
# from llama-cpp-python's source package, extracted by scripts/setup.sh; skipped
# without them).
cl_add_api_test(test_vocab_suite SOURCES test_vocab_suite.c ARGS ${CMAKE_BINARY_DIR}/vocab-suite
  llama-spm llama-bpe gpt-2 phi-3 qwen2 qwen35 deepseek-llm deepseek-coder falcon starcoder refact mpt command-r)
set_tests_properties(test_vocab_suite PROPERTIES SKIP_RETURN_CODE 77)

# Gemma's vocabulary flags (no space prefix, control tokens for the turns, user-defined
# tokens matched in plain text) on llama.cpp's Llama SPM vocabulary, against llama.cpp's
# ids for the same file (tests/data/gemma_style_vocab.out).
add_test(NAME make_gemma_style_vocab COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/make_gemma_style_vocab.py
         ${CMAKE_BINARY_DIR}/vocab-suite ${CMAKE_CURRENT_BINARY_DIR}/gemma-vocab)
set_tests_properties(make_gemma_style_vocab PROPERTIES FIXTURES_SETUP gemma_vocab SKIP_RETURN_CODE 77)
add_test(NAME vocab_gemma_style COMMAND test_vocab_suite ${CMAKE_CURRENT_BINARY_DIR}/gemma-vocab gemma-style)
set_tests_properties(vocab_gemma_style PROPERTIES FIXTURES_REQUIRED gemma_vocab SKIP_RETURN_CODE 77)
