/* Tests skip, not fail, when the reference data they read is absent: CTest counts exit
 * code 77 as skipped (SKIP_RETURN_CODE), and the line says what is missing. */
#ifndef CLLAMA_TEST_NEED_DATA_H
#define CLLAMA_TEST_NEED_DATA_H

#include <stdio.h>
#include <unistd.h>

#define TEST_SKIPPED 77

/* 1 (after printing "skipped: ...") when `path` cannot be read. */
static inline int data_missing(const char *path) {
    if (access(path, R_OK) == 0) return 0;
    printf("skipped: %s is not there (the reference data: ../shared/testdata beside the clone, "
           "or -DCLLAMA_TESTDATA=DIR)\n", path);
    return 1;
}

#endif
