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

static cllama_log_fn log_fn;
static void *log_user;

void cllama_log_set(cllama_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void cl_log(int level, const char *fmt, ...) {
    if (!log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}

void cllama_log(int level, const char *fmt, ...) {
    if (!log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}
