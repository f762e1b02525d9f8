# cllama serve: the OpenAI API through the openai client, hostile requests, a bounded
# load test, and the chat page in a real browser (Debian's python3, for its selenium).
set(TINY ${TESTDATA}/models/tiny-llama2-s1-q4_0.gguf)
foreach(t server:test_server.py server_hostile:test_server_hostile.py server_load:test_server_load.py)
  string(REPLACE ":" ";" parts ${t})
  list(GET parts 0 name)
  list(GET parts 1 script)
  add_test(NAME ${name} COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/${script} ${CLLAMA_BIN} ${TINY})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
endforeach()
find_program(DEBIAN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(DEBIAN_PYTHON)
  add_test(NAME server_browser COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_server_browser.py ${CLLAMA_BIN}
           ${CMAKE_CURRENT_BINARY_DIR}/browser ${SMOLLM2} ${TINY})
  set_tests_properties(server_browser PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
