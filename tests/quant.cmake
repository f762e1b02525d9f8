# Weight block formats and dot kernels.
cl_add_unit_test(test_kernels SOURCES test_kernels.c)
cl_add_unit_test(test_kernel_choice SOURCES test_kernel_choice.c)

# Block layouts against the gguf Python package (skipped when it is not installed).
cl_add_unit_test(quant_dump NO_TEST SOURCES quant_dump.c)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME test_quant_ref
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_quant_ref.py $<TARGET_FILE:quant_dump>
                   ${TESTDATA}/models/stories260K-f32.gguf)
  set_tests_properties(test_quant_ref PROPERTIES SKIP_RETURN_CODE 77)
  # K-quant blocks equal to llama-quantize's (stored in tests/data/quant_ref).
  add_test(NAME test_quant_k_ref
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_quant_k_ref.py $<TARGET_FILE:quant_dump>
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/quant_ref ${TESTDATA}/models/stories260K-f32.gguf)
  set_tests_properties(test_quant_k_ref PROPERTIES SKIP_RETURN_CODE 77)
endif()
