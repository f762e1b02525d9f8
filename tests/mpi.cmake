# One model across MPI ranks (built when MPI is found: CLLAMA_MPI): mpirun -np 2 and 3
# against the single process (bit-identical logits and generation) and the faults.
if(CLLAMA_WITH_MPI AND MPIEXEC_EXECUTABLE)
  add_test(NAME mpi COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi.py ${CLLAMA_BIN}
           ${MPIEXEC_EXECUTABLE} ${TESTDATA} ${CMAKE_CURRENT_BINARY_DIR}/mpi)
  set_tests_properties(mpi PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
