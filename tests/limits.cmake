# cllama limits on fixed inputs (published sizes and M1 figures).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME limits COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits.py ${CLLAMA_BIN})
