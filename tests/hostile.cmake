# Hostile GGUF files (issue: hardened loading).
cl_add_unit_test(test_hostile NO_TEST SOURCES test_hostile.c)
add_test(NAME hostile_gguf COMMAND test_hostile ${CMAKE_CURRENT_BINARY_DIR})
