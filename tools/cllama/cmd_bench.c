/* cllama bench: prompt-processing and generation tokens/s per model, quantization
 * and thread count, on model files or on synthetic models of real shapes. Follows
 * llama-bench's habits: random token ids, one warm-up, repetitions, mean ± sd. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "bench.h"
#include "cllama.h"
#include "cllama_toolkit.h"
#include "commands.h"
#include "dist.h"

static const char *HELP =
    "usage: cllama bench [options]\n"
    "Measures prompt processing (pp) and generation (tg) tokens/s.\n"
    "  -m FILE[,FILE]       model file(s); repeatable\n"
    "  --shape NAME[:QUANT] synthetic model of a real shape (default quant Q4_0); repeatable, comma lists\n"
    "  -p N[,N]             prompt lengths (default 512; 64 with no models given)\n"
    "  -n N[,N]             generation lengths (default 128; 16 with no models given)\n"
    "  -pg PP,TG            prompt then generation, timed together; repeatable\n"
    "  -d, --n-depth N[,N]  tokens already in the context before each test (default 0)\n"
    "  -b, --batch-size N[,N]   tokens per evaluation call (default 2048)\n"
    "  -ub, --ubatch-size N[,N] tokens per forward pass (default 512)\n"
    "  -r N                 repetitions (default 5; 3 with no models given)\n"
    "  -t N[,N]             thread counts (default: physical cores)\n"
    "  -o md|csv|json|jsonl|sql|summary  output (default md; summary with no models given);\n"
    "                       md, csv, json, jsonl and sql are llama-bench's formats and fields\n"
    "  --mem-limit SIZE     memory to plan against instead of what is available (e.g. 16G, 512M)\n"
    "  --svg FILE           also draw a bar chart, one bar per test, grouped by model and threads\n"
    "  --out-dir DIR        also write bench.md, bench.csv, bench.json, bench.jsonl, bench.sql there\n"
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

typedef struct {
    int n_prompt, n_gen;
} test_spec;

/* The same rows in every format, for tools (and tests) that want more than one. */
static const char *const OUT_EXT[] = {"md", "csv", "json", "jsonl", "sql"};
enum { N_OUT_EXT = 5 };

static int write_all_formats(const char *dir, const bench_row *rows, int n) {
    for (int k = 0; k < N_OUT_EXT; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/bench.%s", dir, OUT_EXT[k]);
        FILE *f = fopen(path, "w");
        if (!f) return -1;
        if (k == 0) bench_print_md(f, rows, n);
        else if (k == 1) bench_print_csv(f, rows, n);
        else if (k == 4) bench_print_sql(f, rows, n);
        else bench_print_json(f, rows, n, k == 3);
        if (fclose(f)) return -1;
    }
    return 0;
}

/* Output paths are checked before any benchmarking: a run can take minutes. The
 * --out-dir directory is created here. 0, or -1 with the reason in why. */
static int check_outputs(const char *svg, int *svg_created, const char *dir, char *why, size_t n) {
    *svg_created = 0;
    if (svg && cli_check_writable(svg, svg_created)) {
        snprintf(why, n, "cannot write %s: %s", svg, strerror(errno));
        return -1;
    }
    if (dir) {
        struct stat st;
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            snprintf(why, n, "cannot create %s: %s", dir, strerror(errno));
        } else if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
            snprintf(why, n, "cannot write to %s: not a directory", dir);
        } else if (access(dir, W_OK)) {
            snprintf(why, n, "cannot write to %s: %s", dir, strerror(errno));
        } else {
            return 0;
        }
        if (*svg_created) remove(svg);
        return -1;
    }
    return 0;
}

/* llama.cpp's size guess from the layer count (its load_arch_hparams switches), NULL
 * where it has none. */
static const char *size_guess(const char *arch, const cllama_hparams *hp) {
    int L = hp->n_layer;
    if (!strcmp(arch, "llama")) {
        switch (L) {
        case 16: case 22: return "1B";
        case 26: case 28: return "3B";
        case 32: return hp->n_vocab < 40000 ? "7B" : "8B";
        case 40: return "13B";
        case 48: return "34B";
        case 60: return "30B";
        case 80: return hp->n_head == hp->n_head_kv ? "65B" : "70B";
        }
    } else if (!strcmp(arch, "qwen2")) {
        switch (L) {
        case 24: return hp->n_embd == 1024 ? "0.5B" : "1B";
        case 28: return hp->n_embd == 1536 ? "1.5B" : "7B";
        case 32: return "7B";
        case 36: return "3B";
        case 40: return hp->n_head == 20 ? "4B" : "13B";
        case 48: return "14B";
        case 64: return "32B";
        case 80: return "70B";
        }
    } else if (!strcmp(arch, "gemma2")) {
        switch (L) {
        case 26: return "2B";
        case 42: return "9B";
        case 46: return "27B";
        }
    } else if (!strcmp(arch, "gemma3")) {
        switch (L) {
        case 18: return "270M";
        case 26: return "1B";
        case 32: return "8B";
        case 34: return "4B";
        case 48: return "12B";
        case 62: return "27B";
        }
    } else if (!strcmp(arch, "phi3")) {
        switch (L) {
        case 24: return "1B";
        case 32: return "3B";
        case 40: return "14B";
        }
    }
    return NULL;
}

/* llama-bench's model_type, "llama 7B Q4_0": the architecture, a size label and the
 * quantization. The label is the shape's ("llama2-7b" -> 7B), else general.size_label,
 * else llama.cpp's guess from the layer count, else "?B" as llama.cpp says. */
static void model_type(char *buf, size_t n, const char *arch, const char *shape, const cllama_model *m,
                       const cllama_hparams *hp, const char *quant) {
    char label[64] = "?B";
    const char *dash = shape[0] ? strrchr(shape, '-') : NULL;
    if (dash) {
        str_copy(label, sizeof label, dash + 1);
        for (char *c = label; *c; c++)
            if (*c == 'b' || *c == 'm') *c = (char)(*c - 32);
    } else if (m && cllama_model_meta(m, "general.size_label", label, sizeof label) > 0) {
        /* as the file says */
    } else if (size_guess(arch, hp)) {
        str_copy(label, sizeof label, size_guess(arch, hp));
    }
    snprintf(buf, n, "%s %s %s", arch, label, quant);
}

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A model to benchmark: a file loaded once, or a synthetic model built once. */
typedef struct {
    bench_row base; /* the fields every row of it shares */
    cllama_hparams hp;
    cllama_shape shape;
    uint64_t weights; /* bytes it occupies in memory */
} bench_model;

/* Describes spec i (a file is opened to read its description, weights are mapped,
 * not read). 0, or a runtime error already reported. */
static int describe_model(const char *cmd, const model_spec *spec, bench_model *bm, cllama_model **model) {
    bench_row *b = &bm->base;
    char quant[16] = "Q4_0";
    *model = NULL;
    if (spec->is_shape) {
        char name[64], *colon;
        str_copy(name, sizeof name, spec->spec);
        if ((colon = strchr(name, ':'))) {
            *colon = 0;
            str_copy(quant, sizeof quant, colon + 1);
        }
        cllama_shape_find(name, &bm->shape);
        cllama_shape_hparams(&bm->shape, &bm->hp);
        cllama_synth_size(&bm->shape, quant, &b->params, &b->size);
        snprintf(b->model, sizeof b->model, "%s (synthetic)", bm->shape.name);
        str_copy(b->shape, sizeof b->shape, bm->shape.name);
        bm->weights = b->size;
        model_type(b->model_type, sizeof b->model_type, bm->shape.arch, b->shape, NULL, &bm->hp, quant);
    } else {
        cllama_model_params mp = cli_model_params();
        mp.no_repack = 1; /* the description only */
        if (cllama_model_load(spec->spec, &mp, model)) return runtime_error(cmd, "%s", cllama_last_error());
        cllama_model_desc d;
        cllama_model_describe(*model, &d);
        bm->hp = d.hp;
        b->params = d.n_params;
        b->size = d.weight_bytes;
        bm->weights = d.file_bytes;
        str_copy(b->path, sizeof b->path, spec->spec);
        const char *slash = strrchr(spec->spec, '/');
        str_copy(b->model, sizeof b->model, d.name[0] ? d.name : slash ? slash + 1 : spec->spec);
        str_copy(quant, sizeof quant, d.file_type);
        model_type(b->model_type, sizeof b->model_type, d.arch, "", *model, &bm->hp, quant);
        cllama_model_free(*model);
        *model = NULL;
    }
    str_copy(b->quant, sizeof b->quant, quant);
    return 0;
}

#define MAX_LIST 16 /* values per -b / -ub / -d list */

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench", *v, *svg = NULL, *fmt = NULL, *out_dir = NULL;
    model_spec specs[MAX_ITEMS];
    int n_specs = 0, pp[MAX_ITEMS], n_pp = 0, tg[MAX_ITEMS], n_tg = 0, th[MAX_ITEMS], n_th = 0;
    int pgv[2 * MAX_ITEMS], n_pgv = 0, reps = -1;
    int nb[MAX_ITEMS], n_nb = 0, nub[MAX_ITEMS], n_nub = 0, nd[MAX_ITEMS], n_nd = 0;
    uint64_t mem_limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "--list-shapes")) {
            cllama_shape s;
            printf("| shape | arch | n_vocab | n_embd | n_layer | n_head | n_head_kv | head_dim | n_ff | rope base | "
                   "window | tied | source |\n");
            printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; !cllama_shape_at(k, &s); k++) {
                cllama_hparams hp;
                cllama_shape_hparams(&s, &hp);
                char win[48] = "-";
                if (hp.n_swa) snprintf(win, sizeof win, "%d (%d of %d layers)", hp.n_swa, cllama_shape_swa_layers(&s), hp.n_layer);
                printf("| %s | %s | %d | %d | %d | %d | %d | %d | %d | %g | %s | %s | %s |\n", s.name, s.arch, s.n_vocab,
                       s.n_embd, s.n_layer, s.n_head, s.n_head_kv, hp.head_dim, s.n_ff, s.rope_base, win,
                       s.tied ? "yes" : "no", s.source);
            }
            printf("\nquantizations: %s\n", cllama_scheme_list());
            return 0;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) rc = add_specs(cmd, v, 0, specs, &n_specs);
        else if (!strcmp(a, "--shape")) rc = add_specs(cmd, v, 1, specs, &n_specs);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) rc = add_ints(cmd, a, v, pp, &n_pp, 0);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) rc = add_ints(cmd, a, v, tg, &n_tg, 0);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = add_ints(cmd, a, v, th, &n_th, 1);
        else if (!strcmp(a, "-d") || !strcmp(a, "--n-depth")) rc = add_ints(cmd, a, v, nd, &n_nd, 0);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) rc = add_ints(cmd, a, v, nb, &n_nb, 1);
        else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch-size")) rc = add_ints(cmd, a, v, nub, &n_nub, 1);
        else if (!strcmp(a, "-pg")) {
            int before = n_pgv;
            rc = add_ints(cmd, a, v, pgv, &n_pgv, 0);
            if (!rc && n_pgv - before != 2) return usage_error(cmd, "-pg expects PP,TG");
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) rc = arg_int(cmd, a, v, 1, BENCH_MAX_SAMPLES, &reps);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (strcmp(v, "md") && strcmp(v, "csv") && strcmp(v, "json") && strcmp(v, "jsonl") && strcmp(v, "sql") &&
                strcmp(v, "summary"))
                return usage_error(cmd, "-o expects md, csv, json, jsonl, sql or summary, got '%s'", v);
            fmt = v;
        } else if (!strcmp(a, "--mem-limit")) {
            if (parse_size(v, &mem_limit)) return usage_error(cmd, "--mem-limit expects a size such as 16G, got '%s'", v);
        } else if (!strcmp(a, "--svg")) svg = v;
        else if (!strcmp(a, "--out-dir")) out_dir = v;
        else return usage_error(cmd, "unknown option '%s'", a);
        if (rc) return rc;
        if (n_nb > MAX_LIST || n_nub > MAX_LIST || n_nd > MAX_LIST)
            return usage_error(cmd, "at most %d values for -b, -ub and -d", MAX_LIST);
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
    /* Across ranks each loads its layers of a file; a synthetic model would be built
     * whole on every rank. One model per run: the ranks load it once. */
    if (dist_size() > 1 && (defaults || n_specs != 1 || specs[0].is_shape))
        return usage_error(cmd, "under mpirun bench measures one model file (-m FILE; write a shape with 'cllama "
                           "synth --shape NAME:QUANT -o FILE')");
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
    if (!n_nb) nb[n_nb++] = BENCH_N_BATCH;
    if (!n_nub) nub[n_nub++] = BENCH_N_UBATCH;
    if (!n_nd) nd[n_nd++] = 0;

    test_spec tests[3 * MAX_ITEMS];
    int n_tests = 0;
    for (int i = 0; i < n_pp; i++)
        if (pp[i] > 0) tests[n_tests++] = (test_spec){pp[i], 0};
    for (int i = 0; i < n_tg; i++)
        if (tg[i] > 0) tests[n_tests++] = (test_spec){0, tg[i]};
    for (int i = 0; i + 1 < n_pgv; i += 2)
        if (pgv[i] + pgv[i + 1] > 0) tests[n_tests++] = (test_spec){pgv[i], pgv[i + 1]};
    if (!n_tests) return usage_error(cmd, "no test to run (all lengths are 0)");
    int max_ctx = 1, max_depth = 0, max_ub = 1, max_th = 1;
    for (int i = 0; i < n_nd; i++) max_depth = nd[i] > max_depth ? nd[i] : max_depth;
    for (int i = 0; i < n_tests; i++)
        if (max_depth + tests[i].n_prompt + tests[i].n_gen > max_ctx)
            max_ctx = max_depth + tests[i].n_prompt + tests[i].n_gen;
    for (int i = 0; i < n_nub; i++) max_ub = nub[i] > max_ub ? nub[i] : max_ub;
    for (int k = 0; k < n_th; k++) max_th = th[k] > max_th ? th[k] : max_th;

    char why[4600];
    int svg_created;
    if (check_outputs(svg, &svg_created, out_dir, why, sizeof why)) return runtime_error(cmd, "%s", why);
    /* Every model is described before any is benchmarked: a missing or broken file is
     * one line and exit 1, not a table with a hole after minutes of work. */
    bench_model *models = calloc((size_t)n_specs, sizeof *models);
    size_t max_rows = (size_t)n_specs * n_th * n_nub * n_nb * n_nd * n_tests;
    bench_row *rows = calloc(max_rows, sizeof *rows);
    if (!models || !rows) {
        free(models);
        free(rows);
        return runtime_error(cmd, "out of memory");
    }
    cllama_host host;
    cllama_host_info(&host);
    for (int si = 0; si < n_specs; si++) {
        cllama_model *m;
        if (describe_model(cmd, &specs[si], &models[si], &m)) {
            free(models);
            free(rows);
            if (svg_created) remove(svg);
            return EXIT_FAILURE;
        }
    }

    int n_rows = 0, status = 0;
    double t_start = now_ns();
    uint64_t rng = 0x853c49e6748fea9bull;
    cllama_model_params mp = cli_model_params();
    for (int si = 0; si < n_specs && !status; si++) {
        bench_model *bm = &models[si];
        bench_row base = bm->base;
        cllama_model *model = NULL;
        uint8_t *img = NULL;
        size_t img_size = 0;
        str_copy(base.build_commit, sizeof base.build_commit, cllama_build_commit());
        base.build_number = cllama_build_number();
        str_copy(base.cpu_info, sizeof base.cpu_info, host.cpu);
        base.repack = !mp.no_repack;
        cllama_context_params est = cllama_context_default_params();
        est.n_ctx = max_ctx;
        est.n_threads = max_th;
        est.n_batch = max_ub;
        base.mem_needed = bm->weights + cllama_context_bytes(&bm->hp, &est);
        /* across ranks each holds about its share of the layers (and of the KV cache);
         * --mem-limit is per rank */
        base.ranks = dist_size();
        if (base.ranks > 1) base.mem_needed = (base.mem_needed + (uint64_t)base.ranks - 1) / (uint64_t)base.ranks;
        base.mem_avail = mem_limit ? mem_limit : mem_available();
        base.fits = base.mem_needed <= base.mem_avail;
        if (!base.fits)
            snprintf(base.reason, sizeof base.reason, "needs %.1f GiB%s, %.1f GiB %s", base.mem_needed / 1073741824.0,
                     base.ranks > 1 ? " per rank" : "", base.mem_avail / 1073741824.0,
                     mem_limit ? "allowed by --mem-limit" : "available");
        /* A synthetic model is built in memory and its matrices are then interleaved into
         * a second copy (a file's pages would be dropped by the kernel instead): up to
         * twice the weights (measured: 13.9 GB peak RSS for Llama 2 7B Q8_0, 6.7 GiB of
         * weights). mem_needed stays what the model needs from a file. */
        uint64_t synth_peak = base.mem_needed + (mp.no_repack ? 0 : bm->weights);
        if (base.fits && specs[si].is_shape && synth_peak > base.mem_avail) {
            base.fits = 0;
            snprintf(base.reason, sizeof base.reason,
                     "a file would fit (%.1f GiB) but the synthetic run needs up to %.1f GiB (weights built in memory "
                     "and interleaved), %.1f GiB %s", base.mem_needed / 1073741824.0, synth_peak / 1073741824.0,
                     base.mem_avail / 1073741824.0, mem_limit ? "allowed by --mem-limit" : "available");
        }
        if (base.fits && specs[si].is_shape) {
            fprintf(stderr, "bench: generating %s:%s (%.2f GiB of weights)...\n", bm->shape.name, base.quant,
                    bm->weights / 1073741824.0);
            double t0 = now_ns();
            if (cllama_synth_build(&bm->shape, base.quant, max_th, 42, &img, &img_size) ||
                cllama_model_load_buffer(img, img_size, &mp, &model)) {
                status = runtime_error(cmd, "%s", cllama_last_error());
                cllama_synth_free(img, img_size);
                break;
            }
            fprintf(stderr, "bench: generated in %.1f s\n", (now_ns() - t0) * 1e-9);
        } else if (base.fits && (status = cli_model_load(cmd, specs[si].spec, &mp, &model))) {
            break;
        }
        if (model) {
            cllama_model_desc d;
            cllama_model_describe(model, &d);
            str_copy(base.kernels, sizeof base.kernels, d.kernels);
        }
        for (int ti = 0; ti < n_th && !status; ti++)
            for (int ui = 0; ui < n_nub && !status; ui++) {
                cllama_context *ctx = NULL;
                if (model) {
                    cllama_context_params cp = cli_context_params();
                    cp.n_ctx = max_ctx;
                    cp.n_threads = th[ti];
                    cp.n_batch = nub[ui];
                    if (cllama_context_init(model, &cp, &ctx)) {
                        status = runtime_error(cmd, "%s", cllama_last_error());
                        break;
                    }
                }
                for (int bi = 0; bi < n_nb && !status; bi++)
                    for (int di = 0; di < n_nd && !status; di++) {
                        /* the depth is evaluated once for all tests and repetitions at it */
                        int rc = ctx ? bench_fill_depth(ctx, bm->hp.n_vocab, nd[di], nb[bi], &rng) : 0;
                        for (int k = 0; k < n_tests && !status; k++) {
                            bench_row *r = &rows[n_rows++];
                            *r = base;
                            r->threads = th[ti];
                            r->n_batch = nb[bi];
                            r->n_ubatch = nub[ui];
                            r->n_depth = nd[di];
                            r->n_prompt = tests[k].n_prompt;
                            r->n_gen = tests[k].n_gen;
                            utc_now(r->test_time, sizeof r->test_time);
                            char tname[48];
                            bench_test_name(r, tname, sizeof tname);
                            if (!ctx) {
                                fprintf(stderr, "bench: %s %s: N/A (%s)\n", r->model_type, tname, r->reason);
                                continue;
                            }
                            if (rc || bench_measure(ctx, bm->hp.n_vocab, nb[bi], reps, &rng, r)) {
                                status = runtime_error(cmd, "%s %s: %s", r->model_type, tname, cllama_last_error());
                                break;
                            }
                            fprintf(stderr, "bench: %s t=%d %s: %.2f t/s\n", r->model_type, r->threads, tname, r->avg_ts);
                        }
                    }
                cllama_context_free(ctx);
            }
        cllama_model_free(model);
        cllama_synth_free(img, img_size);
    }
    free(models);
    if (status) { /* an engine error mid-run: the one line above, no table */
        free(rows);
        if (svg_created) remove(svg);
        return status;
    }
    if (!strcmp(fmt, "md")) bench_print_md(stdout, rows, n_rows);
    else if (!strcmp(fmt, "csv")) bench_print_csv(stdout, rows, n_rows);
    else if (!strcmp(fmt, "json")) bench_print_json(stdout, rows, n_rows, 0);
    else if (!strcmp(fmt, "jsonl")) bench_print_json(stdout, rows, n_rows, 1);
    else if (!strcmp(fmt, "sql")) bench_print_sql(stdout, rows, n_rows);
    else bench_print_summary(stdout, rows, n_rows);
    if (svg && bench_write_svg(svg, rows, n_rows)) status = runtime_error(cmd, "cannot write %s: %s", svg, strerror(errno));
    if (out_dir && write_all_formats(out_dir, rows, n_rows))
        status = runtime_error(cmd, "cannot write to %s: %s", out_dir, strerror(errno));
    fprintf(stderr, "bench: done in %.1f s\n", (now_ns() - t_start) * 1e-9);
    free(rows);
    return status;
}
