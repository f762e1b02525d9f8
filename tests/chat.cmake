# Chat templates: real templates x conversations against Python's jinja2.
cl_add_api_test(chat_render NO_TEST SOURCES chat_render.c LIBS PkgConfig::CJSON)
add_test(NAME chat_templates COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_chat_templates.py
         $<TARGET_FILE:chat_render> ${CMAKE_CURRENT_SOURCE_DIR}/data/chat_templates)
set_tests_properties(chat_templates PROPERTIES SKIP_RETURN_CODE 77)
