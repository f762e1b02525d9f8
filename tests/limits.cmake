# cllama limits on fixed inputs (published sizes and M1 figures).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME limits COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits.py ${CLLAMA_BIN})

# How a file's quantization is named (general.file_type written by synth, or read off
# the tensor types); skips (77) without the gguf and numpy packages.
add_test(NAME limits_filetype COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_filetype.py
         ${CLLAMA_BIN} ${CMAKE_CURRENT_BINARY_DIR}/limits_filetype ${TESTDATA})
set_tests_properties(limits_filetype PROPERTIES SKIP_RETURN_CODE 77)

# --from-bench matching and its warnings, efficiencies above 100 % (probes the host).
add_test(NAME limits_bench COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_bench.py
         ${CLLAMA_BIN} ${CMAKE_CURRENT_BINARY_DIR}/limits_bench)

# The roofline chart rendered to charts/limits.png in the build tree; skips (77)
# without rsvg-convert (Debian librsvg2-bin).
add_test(NAME limits_svg COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_svg.py
         ${CLLAMA_BIN} ${CMAKE_CURRENT_BINARY_DIR}/charts)
set_tests_properties(limits_svg PROPERTIES SKIP_RETURN_CODE 77)

# Unwritable output paths of logits, synth and limits --svg: one line with the reason.
add_test(NAME limits_errors COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_errors.py
         ${CLLAMA_BIN} ${CMAKE_CURRENT_BINARY_DIR}/limits_errors)

# --nodes / --link: a model pipelined over N devices (the cost model of mpirun -np N).
add_test(NAME limits_nodes COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_limits_nodes.py ${CLLAMA_BIN})
