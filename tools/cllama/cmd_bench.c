/* cllama bench: prompt-processing and generation tokens/s per model, quantization
 * and thread count, on model files or on synthetic models of real shapes. Follows
 * llama-bench's habits: random token ids, one warm-up, repetitions, mean ± sd. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "bench.h"
#include "cllama.h"
#include "cllama_toolkit.h"
#include "commands.h"

static const char *HELP =
    "usage: cllama bench [options]\n"
    "Measures prompt processing (pp) and generation (tg) tokens/s.\n"
    "  -m FILE[,FILE]       model file(s); repeatable\n"
    "  --shape NAME[:QUANT] synthetic model of a real shape (default quant Q4_0); repeatable, comma lists\n"
    "  -p N[,N]             prompt lengths (default 512; 64 with no models given)\n"
    "  -n N[,N]             generation lengths (default 128; 16 with no models given)\n"
    "  -pg PP,TG            prompt then generation, timed together; repeatable\n"
    "  -r N                 repetitions (default 5; 3 with no models given)\n"
    "  -t N[,N]             thread counts (default: physical cores)\n"
    "  -o md|csv|json|jsonl|summary  output (default md; summary with no models given)\n"
    "  --mem-limit SIZE     memory to plan against instead of what is available (e.g. 16G, 512M)\n"
    "  --svg FILE           also draw a bar chart of pp and tg per model\n"
    "  --out-dir DIR        also write bench.md, bench.csv, bench.json, bench.jsonl there\n"
    "  --list-shapes        print the built-in shapes and quantizations\n"
    "With no -m or --shape: Llama 2 7B Q8_0, Llama 2 7B Q4_0, Llama 3 8B Q4_K_M and\n"
    "Llama 3 70B Q4_K_M, synthetic, pp64 and tg16, three repetitions; a model that does\n"
    "not fit in memory gets N/A with the reason.\n";

#define MAX_ITEMS 64

typedef struct {
    char spec[512]; /* path, or NAME:QUANT */
    int is_shape;
} model_spec;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    uint64_t kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return -1;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 'T' || *end == 't') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (!strcmp(end, "iB") || !strcmp(end, "B")) end += strlen(end);
    if (*end) return -1;
    *out = (uint64_t)(v * mul);
    return 0;
}

/* Splits a comma list into spec entries. */
static int add_specs(const char *cmd, const char *list, int is_shape, model_spec *specs, int *n) {
    char buf[4096];
    str_copy(buf, sizeof buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= MAX_ITEMS) return usage_error(cmd, "too many models (at most %d)", MAX_ITEMS);
        snprintf(specs[*n].spec, sizeof specs[*n].spec, "%s", tok);
        specs[*n].is_shape = is_shape;
        ++*n;
    }
    return 0;
}

static int add_ints(const char *cmd, const char *flag, const char *v, int *dst, int *n, int min) {
    int32_t *vals;
    int k, rc = arg_int_list(cmd, flag, v, &vals, &k);
    if (rc) return rc;
    for (int i = 0; i < k; i++) {
        if (vals[i] < min || vals[i] > 1 << 20 || *n >= MAX_ITEMS) {
            free(vals);
            return usage_error(cmd, "%s values must be in [%d, %d] (at most %d of them)", flag, min, 1 << 20, MAX_ITEMS);
        }
        dst[(*n)++] = vals[i];
    }
    free(vals);
    return 0;
}

/* Times one test: n_prompt tokens in one batch then n_gen single tokens, from an
 * empty cache, each eval computing the logits of its last position (the output
 * projection is part of every generated token's cost, as in llama-bench). Returns wall
 * ns, or a negative value on error. */
static double run_test(cllama_context *ctx, int n_vocab, int n_prompt, int n_gen, uint64_t *rng) {
    int32_t *toks = malloc((size_t)(n_prompt > 0 ? n_prompt : 1) * sizeof *toks);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!toks || !logits) {
        free(toks);
        free(logits);
        return -1;
    }
    for (int i = 0; i < n_prompt; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((*rng >> 33) % (uint64_t)n_vocab);
    }
    cllama_context_reset(ctx);
    double t0 = now_ns();
    int rc = n_prompt ? cllama_context_eval(ctx, toks, n_prompt, logits, 0) : 0;
    for (int i = 0; i < n_gen && !rc; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        int32_t t = (int32_t)((*rng >> 33) % (uint64_t)n_vocab);
        rc = cllama_context_eval(ctx, &t, 1, logits, 0);
    }
    double dt = now_ns() - t0;
    free(toks);
    free(logits);
    return rc ? -1 : dt;
}

typedef struct {
    int n_prompt, n_gen;
} test_spec;

/* The same rows in every format, for tools (and tests) that want more than one. */
static int write_all_formats(const char *dir, const bench_row *rows, int n) {
    static const char *ext[] = {"md", "csv", "json", "jsonl"};
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return -1;
    for (int k = 0; k < 4; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/bench.%s", dir, ext[k]);
        FILE *f = fopen(path, "w");
        if (!f) return -1;
        if (k == 0) bench_print_md(f, rows, n);
        else if (k == 1) bench_print_csv(f, rows, n);
        else bench_print_json(f, rows, n, k == 3);
        if (fclose(f)) return -1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench", *v, *svg = NULL, *fmt = NULL, *out_dir = NULL;
    model_spec specs[MAX_ITEMS];
    int n_specs = 0, pp[MAX_ITEMS], n_pp = 0, tg[MAX_ITEMS], n_tg = 0, th[MAX_ITEMS], n_th = 0;
    int pgv[2 * MAX_ITEMS], n_pgv = 0, reps = -1;
    uint64_t mem_limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "--list-shapes")) {
            cllama_shape s;
            printf("| shape | n_vocab | n_embd | n_layer | n_head | n_head_kv | n_ff | rope base | tied | source |\n");
            printf("|---|---|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; !cllama_shape_at(k, &s); k++)
                printf("| %s | %d | %d | %d | %d | %d | %d | %g | %s | %s |\n", s.name, s.n_vocab, s.n_embd, s.n_layer,
                       s.n_head, s.n_head_kv, s.n_ff, s.rope_base, s.tied ? "yes" : "no", s.source);
            printf("\nquantizations: %s\n", cllama_scheme_list());
            return 0;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) rc = add_specs(cmd, v, 0, specs, &n_specs);
        else if (!strcmp(a, "--shape")) rc = add_specs(cmd, v, 1, specs, &n_specs);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) rc = add_ints(cmd, a, v, pp, &n_pp, 0);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) rc = add_ints(cmd, a, v, tg, &n_tg, 0);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = add_ints(cmd, a, v, th, &n_th, 1);
        else if (!strcmp(a, "-pg")) {
            int before = n_pgv;
            rc = add_ints(cmd, a, v, pgv, &n_pgv, 0);
            if (!rc && n_pgv - before != 2) return usage_error(cmd, "-pg expects PP,TG");
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) rc = arg_int(cmd, a, v, 1, BENCH_MAX_SAMPLES, &reps);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (strcmp(v, "md") && strcmp(v, "csv") && strcmp(v, "json") && strcmp(v, "jsonl") && strcmp(v, "summary"))
                return usage_error(cmd, "-o expects md, csv, json, jsonl or summary, got '%s'", v);
            fmt = v;
        } else if (!strcmp(a, "--mem-limit")) {
            if (parse_size(v, &mem_limit)) return usage_error(cmd, "--mem-limit expects a size such as 16G, got '%s'", v);
        } else if (!strcmp(a, "--svg")) svg = v;
        else if (!strcmp(a, "--out-dir")) out_dir = v;
        else return usage_error(cmd, "unknown option '%s'", a);
        if (rc) return rc;
    }
    /* Validate shapes and quantizations before any work. */
    for (int i = 0; i < n_specs; i++) {
        if (!specs[i].is_shape) continue;
        char name[64], *colon;
        str_copy(name, sizeof name, specs[i].spec);
        if ((colon = strchr(name, ':'))) *colon = 0;
        cllama_shape s;
        if (cllama_shape_find(name, &s) || (colon && cllama_scheme_check(colon + 1)))
            return usage_error(cmd, "%s", cllama_last_error());
    }
    int defaults = n_specs == 0;
    if (defaults) {
        add_specs(cmd, "llama2-7b:Q8_0,llama2-7b:Q4_0,llama3-8b:Q4_K_M,llama3-70b:Q4_K_M", 1, specs, &n_specs);
        if (!n_pp && !n_tg && !n_pgv) pp[n_pp++] = 64, tg[n_tg++] = 16;
        /* Three short repetitions: a single 16-token run on a shared machine can be off by
         * half (seen here for Llama 3 8B Q4_K_M: 2.7 t/s once, 5.3-5.9 t/s in -r 3). */
        if (reps < 0) reps = 3;
        if (!fmt) fmt = "summary";
    }
    if (!n_pp && !n_tg && !n_pgv) pp[n_pp++] = 512, tg[n_tg++] = 128;
    if (reps < 0) reps = 5;
    if (!fmt) fmt = "md";
    if (!n_th) th[n_th++] = cllama_default_threads();

    test_spec tests[3 * MAX_ITEMS];
    int n_tests = 0;
    for (int i = 0; i < n_pp; i++)
        if (pp[i] > 0) tests[n_tests++] = (test_spec){pp[i], 0};
    for (int i = 0; i < n_tg; i++)
        if (tg[i] > 0) tests[n_tests++] = (test_spec){0, tg[i]};
    for (int i = 0; i + 1 < n_pgv; i += 2)
        if (pgv[i] + pgv[i + 1] > 0) tests[n_tests++] = (test_spec){pgv[i], pgv[i + 1]};
    if (!n_tests) return usage_error(cmd, "no test to run (all lengths are 0)");
    int max_ctx = 1;
    for (int i = 0; i < n_tests; i++)
        if (tests[i].n_prompt + tests[i].n_gen > max_ctx) max_ctx = tests[i].n_prompt + tests[i].n_gen;

    int max_rows = n_specs * n_th * n_tests;
    bench_row *rows = calloc((size_t)max_rows, sizeof *rows);
    if (!rows) return runtime_error(cmd, "out of memory");
    int n_rows = 0, status = 0;
    double t_start = now_ns();
    uint64_t rng = 0x853c49e6748fea9bull;
    cllama_model_params mp = cli_model_params();
    for (int si = 0; si < n_specs; si++) {
        bench_row base = {0};
        cllama_hparams hp;
        cllama_shape shape;
        char quant[16] = "Q4_0";
        cllama_model *model = NULL;
        uint8_t *img = NULL;
        size_t img_size = 0;
        uint64_t weights;
        if (specs[si].is_shape) {
            char name[64], *colon;
            str_copy(name, sizeof name, specs[si].spec);
            if ((colon = strchr(name, ':'))) {
                *colon = 0;
                str_copy(quant, sizeof quant, colon + 1);
            }
            cllama_shape_find(name, &shape);
            cllama_shape_hparams(&shape, &hp);
            cllama_synth_size(&shape, quant, &base.params, &base.size);
            snprintf(base.model, sizeof base.model, "%s (synthetic)", shape.name);
            weights = base.size;
        } else {
            str_copy(base.path, sizeof base.path, specs[si].spec);
            if (cllama_model_load(specs[si].spec, &mp, &model)) {
                status = runtime_error(cmd, "%s", cllama_last_error());
                continue;
            }
            cllama_model_desc d;
            cllama_model_describe(model, &d);
            hp = d.hp;
            base.params = d.n_params;
            base.size = d.weight_bytes;
            weights = d.file_bytes;
            const char *slash = strrchr(specs[si].spec, '/');
            str_copy(base.model, sizeof base.model, d.name[0] ? d.name : slash ? slash + 1 : specs[si].spec);
            str_copy(quant, sizeof quant, d.file_type);
        }
        str_copy(base.quant, sizeof base.quant, quant);
        int max_th = 1;
        for (int k = 0; k < n_th; k++) max_th = th[k] > max_th ? th[k] : max_th;
        cllama_context_params est = cllama_context_default_params();
        est.n_ctx = max_ctx;
        est.n_threads = max_th;
        base.mem_needed = weights + cllama_context_bytes(&hp, &est);
        base.mem_avail = mem_limit ? mem_limit : mem_available();
        base.fits = base.mem_needed <= base.mem_avail;
        if (!base.fits)
            snprintf(base.reason, sizeof base.reason, "needs %.1f GiB, %.1f GiB %s", base.mem_needed / 1073741824.0,
                     base.mem_avail / 1073741824.0, mem_limit ? "allowed by --mem-limit" : "available");
        if (base.fits && specs[si].is_shape) {
            fprintf(stderr, "bench: generating %s:%s (%.2f GiB of weights)...\n", shape.name, quant, weights / 1073741824.0);
            double t0 = now_ns();
            if (cllama_synth_build(&shape, quant, max_th, 42, &img, &img_size) ||
                cllama_model_load_buffer(img, img_size, &mp, &model)) {
                status = runtime_error(cmd, "%s", cllama_last_error());
                cllama_synth_free(img, img_size);
                continue;
            }
            fprintf(stderr, "bench: generated in %.1f s\n", (now_ns() - t0) * 1e-9);
        }
        for (int ti = 0; ti < n_th; ti++) {
            cllama_context *ctx = NULL;
            if (base.fits) {
                cllama_context_params cp = cllama_context_default_params();
                cp.n_ctx = max_ctx;
                cp.n_threads = th[ti];
                if (cllama_context_init(model, &cp, &ctx)) {
                    status = runtime_error(cmd, "%s", cllama_last_error());
                    break;
                }
            }
            for (int k = 0; k < n_tests; k++) {
                bench_row *r = &rows[n_rows++];
                *r = base;
                r->threads = th[ti];
                r->n_prompt = tests[k].n_prompt;
                r->n_gen = tests[k].n_gen;
                char tname[48];
                bench_test_name(r, tname, sizeof tname);
                if (!ctx) {
                    fprintf(stderr, "bench: %s %s %s: N/A (%s)\n", r->model, r->quant, tname, r->reason);
                    continue;
                }
                /* Warm-up as llama-bench does it: a short batch and one generated token. */
                if (r->n_prompt) run_test(ctx, hp.n_vocab, r->n_prompt < 32 ? r->n_prompt : 32, 0, &rng);
                if (r->n_gen) run_test(ctx, hp.n_vocab, 0, 1, &rng);
                for (int rep = 0; rep < reps; rep++) {
                    double ns = run_test(ctx, hp.n_vocab, r->n_prompt, r->n_gen, &rng);
                    if (ns < 0) {
                        r->fits = 0;
                        snprintf(r->reason, sizeof r->reason, "%s", cllama_last_error());
                        break;
                    }
                    r->samples_ns[r->n_samples++] = ns;
                }
                bench_stats(r);
                fprintf(stderr, "bench: %s %s t=%d %s: %.2f t/s\n", r->model, r->quant, r->threads, tname, r->avg_ts);
            }
            cllama_context_free(ctx);
        }
        cllama_model_free(model);
        cllama_synth_free(img, img_size);
    }
    if (!strcmp(fmt, "md")) bench_print_md(stdout, rows, n_rows);
    else if (!strcmp(fmt, "csv")) bench_print_csv(stdout, rows, n_rows);
    else if (!strcmp(fmt, "json")) bench_print_json(stdout, rows, n_rows, 0);
    else if (!strcmp(fmt, "jsonl")) bench_print_json(stdout, rows, n_rows, 1);
    else bench_print_summary(stdout, rows, n_rows);
    if (svg && bench_write_svg(svg, rows, n_rows)) status = runtime_error(cmd, "cannot write %s", svg);
    if (out_dir && write_all_formats(out_dir, rows, n_rows)) status = runtime_error(cmd, "cannot write to %s", out_dir);
    fprintf(stderr, "bench: done in %.1f s\n", (now_ns() - t_start) * 1e-9);
    free(rows);
    return status;
}
