# cllama bench and synth end to end (output formats, memory fit, synthetic GGUF).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME bench_synth COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_bench.py ${CLLAMA_BIN}
         ${CMAKE_CURRENT_BINARY_DIR})

# llama-bench's formats: our output against a record of llama-bench's own
# (tests/data/llama_bench/SOURCE.md says how it was made).
add_test(NAME bench_llama_formats COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_bench_formats.py
         ${CLLAMA_BIN} ${TESTDATA} ${CMAKE_CURRENT_SOURCE_DIR}/data/llama_bench ${CMAKE_CURRENT_BINARY_DIR}/bench-llama)
set_tests_properties(bench_llama_formats PROPERTIES SKIP_RETURN_CODE 77)

# The chart: every row once, labelled, inside the picture; rendered to build/tests/charts/bench.png.
add_test(NAME bench_svg COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_bench_svg.py ${CLLAMA_BIN}
         ${TESTDATA} ${CMAKE_CURRENT_BINARY_DIR}/charts)
set_tests_properties(bench_svg PROPERTIES SKIP_RETURN_CODE 77)
