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
  endforeach()
endforeach()
