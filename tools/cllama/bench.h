/* cllama bench: rows of measurements and their output formats. The machine-readable
 * formats carry llama-bench's fields, in its order and with its types, so that tools
 * reading llama-bench results read these; cllama's own fields follow them. */
#ifndef CLLAMA_BENCH_H
#define CLLAMA_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "cllama.h"

#define BENCH_MAX_SAMPLES 64

typedef struct {
    /* the run */
    char build_commit[48];
    int build_number;
    char cpu_info[128];
    char test_time[32];  /* RFC 3339, UTC, when the test started */
    /* the model */
    char model[128];     /* display name: "llama2-7b (synthetic)", general.name or the file name */
    char model_type[96]; /* llama-bench's: "llama 7B Q4_0" */
    char quant[16];      /* "Q4_0", "Q4_K_M", ... */
    char path[512];      /* the file as given, "" for a synthetic shape */
    char shape[32];      /* the built-in shape of a synthetic model, "" for a file */
    char kernels[16];    /* the kernel set that ran */
    int repack;          /* weights interleaved at load */
    uint64_t params;
    uint64_t size;       /* weight bytes */
    /* the test */
    int threads;
    int n_batch, n_ubatch; /* tokens per eval call; per forward pass */
    int n_prompt, n_gen, n_depth;
    int fits;
    uint64_t mem_needed;
    uint64_t mem_avail;
    char reason[192];    /* why a row has no figures */
    int ranks;           /* MPI ranks the model's layers are split across (1: one process) */
    int n_samples;
    double samples_ns[BENCH_MAX_SAMPLES]; /* wall time of each repetition (the depth fill not included) */
    double avg_ts, stddev_ts;             /* tokens/s over the samples */
} bench_row;

/* llama-bench's defaults: a row shows -b / -ub in markdown only when they differ. */
enum { BENCH_N_BATCH = 2048, BENCH_N_UBATCH = 512 };

/* Times one test on sequence 0 of ctx: from the context as bench_fill_depth left it
 * (n_depth tokens, not timed), n_prompt random tokens in calls of n_batch, then n_gen
 * single tokens, each call computing the logits of its last position (the output
 * projection is part of every generated token's cost, as in llama-bench). What an
 * earlier repetition added past the depth is dropped first. *rng: the token stream's
 * state. Returns wall ns, or a negative value on error (cllama_last_error says). */
double bench_run_test(cllama_context *ctx, int n_vocab, int n_depth, int n_prompt, int n_gen, int n_batch,
                      uint64_t *rng);
/* Empties ctx and fills sequence 0 with n_depth random tokens (not timed). 0 or -1. */
int bench_fill_depth(cllama_context *ctx, int n_vocab, int n_depth, int n_batch, uint64_t *rng);

/* One test as llama-bench times it, at r->n_depth (already filled) with r->n_prompt
 * and r->n_gen: a warm-up (a batch of up to 32 prompt tokens, one generated token),
 * then `reps` timed repetitions into r->samples_ns, and the mean and sd (bench_stats).
 * 0, or -1 (cllama_last_error says why). */
int bench_measure(cllama_context *ctx, int n_vocab, int n_batch, int reps, uint64_t *rng, bench_row *r);

/* llama-bench's test name: "pp64", "tg16", "pp512+tg128", with " @ d512" at a depth. */
void bench_test_name(const bench_row *r, char *buf, size_t n);
/* Mean and sample standard deviation of tokens/s from samples_ns. */
void bench_stats(bench_row *r);

/* Output formats; each writes all rows to f. md: llama-bench's table (model | size |
 * params | backend | threads | [n_batch | n_ubatch |] test | t/s) and its build line;
 * csv, json, jsonl: llama-bench's fields then cllama's; sql: llama-bench's table and
 * columns only, so that rows go into the same table as llama-bench's (rows without
 * figures become comments). */
void bench_print_md(FILE *f, const bench_row *rows, int n);
void bench_print_csv(FILE *f, const bench_row *rows, int n);
void bench_print_json(FILE *f, const bench_row *rows, int n, int lines);
void bench_print_sql(FILE *f, const bench_row *rows, int n);
/* The per-model summary: Model | Quantization | Processing (t/s) | Generation (t/s) | Memory. */
void bench_print_summary(FILE *f, const bench_row *rows, int n);
/* Bar chart, one bar per row, grouped by model and thread count; 0, or -1 with errno
 * set if the file cannot be written. */
int bench_write_svg(const char *path, const bench_row *rows, int n);

#endif
