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

# The other architectures against the reference engine: Qwen2 (Q/K/V biases, NeoX rope,
# GQA, tied output), Gemma 2 (windowed layers, soft-capping, post-norms, GeGLU, head_dim
# not n_embd / n_head), Gemma 3 (5 local layers of 6 with their own rope, Q/K norms),
# Phi-3 (fused QKV and gate+up, LongRoPE) and Mistral (Llama layers, all windowed), each
# F16 and Q8_0 with a 24-token prompt past the 8-position windows. The tiny models are
# written at test time by the gguf Python package (tests/make_tiny_model.py, skipped
# without it); the golden logits are tests/data/golden (made by llama.cpp).
set(TINY_MODELS)
foreach(family qwen2 gemma2 gemma3 phi3 mistral)
  list(APPEND TINY_MODELS "tiny-${family}-f16:0.02" "tiny-${family}-q8_0:0.18")
endforeach()
foreach(entry ${TINY_MODELS})
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
# Sequences, batches and KV operations where cells hold several sequences out of
# position order: the window's cut on that path too.
foreach(entry "tiny-gemma2-q8_0:0.18" "tiny-mistral-f16:0.02" "tiny-phi3-q8_0:0.18")
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 model)
  list(GET parts 1 tol)
  set(GOLD ${CMAKE_CURRENT_SOURCE_DIR}/data/golden/${model})
  add_test(NAME batch_${model} COMMAND test_batch ${CMAKE_CURRENT_BINARY_DIR}/${model}.gguf ${GOLD}.json ${tol})
  set_tests_properties(batch_${model} PROPERTIES FIXTURES_REQUIRED ${model} SKIP_RETURN_CODE 77)
endforeach()

# The pipeline API (a model cut into layer ranges on several stages, in one process):
# logits bit for bit the single-process ones, KV operations and aborts on every stage.
cl_add_api_test(test_pipe NO_TEST SOURCES test_pipe.c LIBS PkgConfig::CJSON Threads::Threads)
foreach(model stories260K-f32 tiny-llama2-s1-q4_k_m tiny-llama3-s1-q4_k_m)
  add_test(NAME pipe_${model} COMMAND test_pipe ${TESTDATA}/models/${model}.gguf ${TESTDATA}/golden/${model}.json)
  set_tests_properties(pipe_${model} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# Gemma 3 cut into stages: post-norms, Q/K norms and per-layer windows on every stage.
add_test(NAME pipe_tiny-gemma3-q8_0 COMMAND test_pipe ${CMAKE_CURRENT_BINARY_DIR}/tiny-gemma3-q8_0.gguf
         ${CMAKE_CURRENT_SOURCE_DIR}/data/golden/tiny-gemma3-q8_0.json)
set_tests_properties(pipe_tiny-gemma3-q8_0 PROPERTIES FIXTURES_REQUIRED tiny-gemma3-q8_0 SKIP_RETURN_CODE 77)

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

# Mixture-of-experts and other unsupported models refused in one line by cllama run;
# per-layer window lists and patterns read as the reference reads them.
add_test(NAME arch_refusals COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_arch_refusals.py ${CLLAMA_BIN}
         ${CMAKE_CURRENT_BINARY_DIR}/arch_refusals)
set_tests_properties(arch_refusals PROPERTIES SKIP_RETURN_CODE 77)
