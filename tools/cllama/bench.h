/* cllama bench: rows of measurements and their output formats. */
#ifndef CLLAMA_BENCH_H
#define CLLAMA_BENCH_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SAMPLES 64

typedef struct {
    char model[96];    /* "llama2-7b (synthetic)" or the file's general.name / basename */
    char quant[16];    /* "Q4_0", "Q4_K_M", ... */
    char path[512];    /* file, or "" for a synthetic shape */
    uint64_t params;
    uint64_t size;     /* weight bytes */
    int threads;
    int n_prompt, n_gen;
    int fits;
    uint64_t mem_needed;
    uint64_t mem_avail;
    char reason[160];  /* why a row has no figures */
    int n_samples;
    double samples_ns[BENCH_MAX_SAMPLES]; /* wall time of each repetition */
    double avg_ts, stddev_ts;             /* tokens/s over the samples */
} bench_row;

/* "pp64", "tg16", "pp512+tg128". */
void bench_test_name(const bench_row *r, char *buf, size_t n);
/* Mean and sample standard deviation of tokens/s from samples_ns. */
void bench_stats(bench_row *r);

/* Output formats; each writes all rows to f. */
void bench_print_md(FILE *f, const bench_row *rows, int n);
void bench_print_csv(FILE *f, const bench_row *rows, int n);
void bench_print_json(FILE *f, const bench_row *rows, int n, int lines);
/* The per-model summary: Model | Quantization | Processing (t/s) | Generation (t/s) | Memory. */
void bench_print_summary(FILE *f, const bench_row *rows, int n);
/* Bar chart of pp and tg t/s per model; 0 or -1 if the file cannot be written. */
int bench_write_svg(const char *path, const bench_row *rows, int n);

#endif
