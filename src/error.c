#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* Thread-local so that concurrent callers do not overwrite each other's message. */
static _Thread_local char last_error[512];

int cl_err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *cllama_last_error(void) { return last_error; }
