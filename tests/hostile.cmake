# Hostile GGUF files (issue: hardened loading).
add_executable(test_hostile test_hostile.c)
target_include_directories(test_hostile PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_hostile PRIVATE cllama)
add_test(NAME hostile_gguf COMMAND test_hostile ${CMAKE_CURRENT_BINARY_DIR})
