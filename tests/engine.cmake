# Engine correctness against the reference engine's logits (testdata/golden).

set(GOLDEN_MODELS
  "stories260K-f32:0.02"
  "tiny-llama2-s1-f16:0.02"
  "tiny-llama2-s1-q8_0:0.18"
  "tiny-llama2-s1-q4_0:0.18"
  "tiny-llama2-s1-q4_k_m:0.18"
  "tiny-llama3-s1-q4_k_m:0.18")

cl_add_api_test(test_golden NO_TEST SOURCES test_golden.c LIBS PkgConfig::CJSON)
foreach(entry ${GOLDEN_MODELS})
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 model)
  list(GET parts 1 tol)
  foreach(threads 1 2)
    add_test(NAME golden_${model}_t${threads}
      COMMAND test_golden ${TESTDATA}/models/${model}.gguf ${TESTDATA}/golden/${model}.json
              ${TESTDATA}/golden/${model}.last.f32 ${tol} ${threads})
    set_tests_properties(golden_${model}_t${threads} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endforeach()

# Sequences, batches, KV operations, abort, shared pools and layer ranges (public API),
# on golden models: MHA with K-quants, GQA (Llama 3), F16.
cl_add_api_test(test_batch NO_TEST SOURCES test_batch.c LIBS PkgConfig::CJSON Threads::Threads)
foreach(entry "tiny-llama2-s1-q4_k_m:0.18" "tiny-llama3-s1-q4_k_m:0.18" "tiny-llama2-s1-f16:0.02")
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 model)
  list(GET parts 1 tol)
  add_test(NAME batch_${model} COMMAND test_batch ${TESTDATA}/models/${model}.gguf ${TESTDATA}/golden/${model}.json ${tol})
  set_tests_properties(batch_${model} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# Qwen2 (Q/K/V biases, NeoX rope, GQA, tied output) against the reference engine: the
# tiny model is written at test time by the gguf Python package (tests/make_tiny_model.py,
# skipped without it), the golden logits are tests/data/golden (made by llama.cpp).
foreach(entry "tiny-qwen2-f16:0.02" "tiny-qwen2-q8_0:0.18")
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 model)
  list(GET parts 1 tol)
  string(REPLACE "tiny-" "" kind ${model})
  set(GOLD ${CMAKE_CURRENT_SOURCE_DIR}/data/golden/${model})
  add_test(NAME make_${model} COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/make_tiny_model.py ${kind}
           ${CMAKE_CURRENT_BINARY_DIR}/${model}.gguf ${GOLD}.json)
  set_tests_properties(make_${model} PROPERTIES FIXTURES_SETUP ${model} SKIP_RETURN_CODE 77)
  foreach(threads 1 2)
    add_test(NAME golden_${model}_t${threads}
      COMMAND test_golden ${CMAKE_CURRENT_BINARY_DIR}/${model}.gguf ${GOLD}.json ${GOLD}.last.f32 ${tol} ${threads})
    set_tests_properties(golden_${model}_t${threads} PROPERTIES FIXTURES_REQUIRED ${model} SKIP_RETURN_CODE 77)
  endforeach()
endforeach()

# The pipeline API (a model cut into layer ranges on several stages, in one process):
# logits bit for bit the single-process ones, KV operations and aborts on every stage.
cl_add_api_test(test_pipe NO_TEST SOURCES test_pipe.c LIBS PkgConfig::CJSON Threads::Threads)
foreach(model stories260K-f32 tiny-llama2-s1-q4_k_m tiny-llama3-s1-q4_k_m)
  add_test(NAME pipe_${model} COMMAND test_pipe ${TESTDATA}/models/${model}.gguf ${TESTDATA}/golden/${model}.json)
  set_tests_properties(pipe_${model} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# Models split in parts (NAME-00001-of-0000K.gguf), written by the gguf package; also
# under mpirun when the build has MPI.
if(CLLAMA_WITH_MPI AND MPIEXEC_EXECUTABLE)
  set(SPLIT_MPIRUN ${MPIEXEC_EXECUTABLE})
endif()
add_test(NAME split_parts COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_split.py ${CLLAMA_BIN}
         ${TESTDATA} ${CMAKE_CURRENT_BINARY_DIR}/split ${SPLIT_MPIRUN})
set_tests_properties(split_parts PROPERTIES SKIP_RETURN_CODE 77)

# The thread pool: every share and item exactly once with more threads than CPUs.
cl_add_unit_test(test_threads SOURCES test_threads.c)
