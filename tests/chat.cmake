# Chat templates: real templates x conversations against Python's jinja2.
cl_add_api_test(chat_render NO_TEST SOURCES chat_render.c LIBS PkgConfig::CJSON)
add_test(NAME chat_templates COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_chat_templates.py
         $<TARGET_FILE:chat_render> ${CMAKE_CURRENT_SOURCE_DIR}/data/chat_templates)
set_tests_properties(chat_templates PROPERTIES SKIP_RETURN_CODE 77)

# cllama chat through a pseudo-terminal on a tiny model: two turns with the cache
# kept, Ctrl-C, /clear, /bye, Ctrl-D, -p and a pipe.
add_test(NAME chat_cli COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_chat_cli.py ${CLLAMA_BIN}
         ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf)
set_tests_properties(chat_cli PROPERTIES SKIP_RETURN_CODE 77)

# A real chat model (SMOLLM2, skipped without it) against the reference engine's
# answers and ids.
add_test(NAME chat_smollm2 COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_smollm2_chat.py ${CLLAMA_BIN}
         ${SMOLLM2} ${CMAKE_CURRENT_SOURCE_DIR}/data/smollm2_chat_reference.json)
set_tests_properties(chat_smollm2 PROPERTIES SKIP_RETURN_CODE 77)
