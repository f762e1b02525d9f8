/* Shared command-line helpers for the subcommands: strict number parsing and
 * one-line usage errors. */
#ifndef CLLAMA_ARGS_H
#define CLLAMA_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "cllama.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

/* Prints "cllama CMD: MESSAGE (see cllama CMD -h)" to stderr; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "cllama CMD: MESSAGE" to stderr; returns EXIT_RUNTIME. */
int runtime_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* argv[*i] is a flag that needs a value: returns argv[*i+1] and advances *i, or NULL
 * (after printing a usage error) if it is missing. */
const char *arg_value(const char *cmd, int argc, char **argv, int *i);
/* Whole-string parses; return 0 on success, else print a usage error naming `flag`
 * and return EXIT_USAGE. */
int arg_int(const char *cmd, const char *flag, const char *s, long min, long max, int *out);
int arg_float(const char *cmd, const char *flag, const char *s, float min, float max, float *out);
int arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
/* Comma-separated ints ("1,2,3") into a malloc'd array. */
int arg_int_list(const char *cmd, const char *flag, const char *s, int32_t **out, int *n);

/* Copies src into dst (capacity n), truncating; always NUL-terminates. */
void str_copy(char *dst, size_t n, const char *src);

/* Reads a whole file ("-": standard input) into a malloc'd NUL-terminated buffer;
 * NULL on error (errno set). */
char *read_file(const char *path, size_t *len);

/* Model params for the CLI: the library's defaults with the documented environment
 * overrides applied (CLLAMA_ISA=NAME forces a kernel set of
 * src/kernels/sets.def, or generic; CLLAMA_REPACK=0 keeps every weight in the file mapping). */
cllama_model_params cli_model_params(void);

/* Threads for a context: `given` (-t), else 0 (the library's default, the physical
 * cores) unless several ranks of an MPI job share this machine: then the cores divided
 * among them, since the stages of a pipeline compute at once (batches and
 * micro-batches in flight) and more threads than cores stall each other's barriers. */
int cli_threads(int given);

/* The model of a command that runs across MPI ranks (dist.h): this process's layers of
 * it when the job has several ranks, else all of it. 0, or EXIT_RUNTIME after a
 * one-line error (naming the rank that failed). */
int cli_model_load(const char *cmd, const char *path, const cllama_model_params *mp, cllama_model **out);
/* The library's context defaults, with the pipeline to the other ranks when there are
 * any (their contexts are made alike, with this one's n_ctx, n_seq_max and n_batch). */
cllama_context_params cli_context_params(void);

/* 1 if `type` is a file type the quantizer makes (cllama_quantize_types), by exact name. */
int cli_quantize_type_known(const char *type, size_t len);

/* Warns on stderr when `threads` exceeds the online CPUs (they would wait for each
 * other); returns 1 if it warned. */
int cli_check_threads(const char *cmd, int threads);
/* Whether `path` can be opened for writing, checked before minutes of work: opened
 * without truncating, so an existing file keeps its contents until it is written.
 * Returns 0 (*created = 1 if this made the file: remove it if the command then fails),
 * or -1 with errno set. */
int cli_check_writable(const char *path, int *created);
/* Warns (one line on stderr, returns 1) when n_ctx is above the model's training context. */
int cli_check_ctx(const char *cmd, const cllama_model *m, int n_ctx);

/* Processes \n \t \r \\ \' \" escapes in place (as llama.cpp's -e); returns the new length. */
size_t unescape_inplace(char *s);

/* The library's log on stderr: warnings and errors, and information too when
 * CLLAMA_LOG=info (or debug). Installed by main. */
void cli_log_init(void);
/* Shows the log from `level` (enum cllama_log_level) on. */
void cli_log_set_level(int level);

#endif
