/* Per-thread last error, and the log: modules record a one-line message and return
 * the code; what is worth telling without failing goes to the log callback. */
#ifndef CL_ERROR_H
#define CL_ERROR_H

#include "cllama.h"

/* Formats the message for cllama_last_error() and returns `code`, so callers can
 * write `return cl_err(CLLAMA_E_FORMAT, "tensor %s: ...", name);`. */
int cl_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line to the callback set by cllama_log_set (dropped when none is set). */
void cl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
