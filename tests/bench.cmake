# cllama bench and synth end to end (output formats, memory fit, synthetic GGUF).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME bench_synth COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_bench.py ${CLLAMA_BIN}
         ${CMAKE_CURRENT_BINARY_DIR})
