/* The check-and-count pattern of the C tests that print every check:
 *   CHECK(cond, "what was checked: %d", x);   prints "ok   ..." or "FAIL ..."
 * and counts failures in `fails` (the test exits non-zero when any). */
#ifndef CLLAMA_TEST_CHECK_H
#define CLLAMA_TEST_CHECK_H

#include <stdio.h>

static int fails;
#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        int ok_ = (cond);                                                                                             \
        printf("%s ", ok_ ? "ok  " : "FAIL");                                                                         \
        printf(__VA_ARGS__);                                                                                          \
        printf("\n");                                                                                                 \
        if (!ok_) fails++;                                                                                            \
    } while (0)

#endif
