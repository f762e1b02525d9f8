/* Per-thread last error: modules record a one-line message and return the code. */
#ifndef CL_ERROR_H
#define CL_ERROR_H

#include "cllama.h"

/* Formats the message for cllama_last_error() and returns `code`, so callers can
 * write `return cl_err(CLLAMA_E_FORMAT, "tensor %s: ...", name);`. */
int cl_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
