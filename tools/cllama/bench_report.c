/* Output of cllama bench: llama-bench's markdown, CSV, JSON, JSONL and SQL (its field
 * names, order and types, checked against a record of llama-bench's own output in
 * tests/data/llama_bench), and the per-model summary table. The chart is in
 * bench_svg.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

void bench_test_name(const bench_row *r, char *buf, size_t n) {
    if (r->n_prompt && r->n_gen) snprintf(buf, n, "pp%d+tg%d", r->n_prompt, r->n_gen);
    else if (r->n_prompt) snprintf(buf, n, "pp%d", r->n_prompt);
    else snprintf(buf, n, "tg%d", r->n_gen);
    size_t l = strlen(buf);
    if (r->n_depth > 0 && l < n) snprintf(buf + l, n - l, " @ d%d", r->n_depth);
}

void bench_stats(bench_row *r) {
    double tokens = r->n_prompt + r->n_gen, s = 0, ss = 0;
    for (int i = 0; i < r->n_samples; i++) s += tokens / (r->samples_ns[i] * 1e-9);
    r->avg_ts = r->n_samples ? s / r->n_samples : 0;
    for (int i = 0; i < r->n_samples; i++) {
        double d = tokens / (r->samples_ns[i] * 1e-9) - r->avg_ts;
        ss += d * d;
    }
    r->stddev_ts = r->n_samples > 1 ? sqrt(ss / (r->n_samples - 1)) : 0;
}

static double avg_ns(const bench_row *r) {
    double s = 0;
    for (int i = 0; i < r->n_samples; i++) s += r->samples_ns[i];
    return r->n_samples ? s / r->n_samples : 0;
}

static double stddev_ns(const bench_row *r) {
    double m = avg_ns(r), ss = 0;
    for (int i = 0; i < r->n_samples; i++) ss += (r->samples_ns[i] - m) * (r->samples_ns[i] - m);
    return r->n_samples > 1 ? sqrt(ss / (r->n_samples - 1)) : 0;
}

/* ---- the fields ---- */

typedef enum { F_STR, F_INT, F_BOOL, F_FLOAT } field_type;

typedef enum {
    /* llama-bench's, in its order */
    BUILD_COMMIT, BUILD_NUMBER, CPU_INFO, GPU_INFO, BACKENDS, MODEL_FILENAME, MODEL_TYPE, MODEL_SIZE,
    MODEL_N_PARAMS, N_BATCH, N_UBATCH, N_THREADS, CPU_MASK, CPU_STRICT, POLL, TYPE_K, TYPE_V, N_GPU_LAYERS,
    N_CPU_MOE, SPLIT_MODE, MAIN_GPU, NO_KV_OFFLOAD, FLASH_ATTN, DEVICES, TENSOR_SPLIT, TENSOR_BUFT_OVERRIDES,
    LOAD_MODE, LAZY_MODE, EMBEDDINGS, NO_OP_OFFLOAD, NO_HOST, REPACK, FIT_TARGET, FIT_MIN_CTX, N_PROMPT, N_GEN,
    N_DEPTH, TEST_TIME, AVG_NS, STDDEV_NS, AVG_TS, STDDEV_TS,
    N_LLAMA_BENCH_FIELDS,
    /* cllama's, after llama-bench's (and after samples_ns/samples_ts in JSON) */
    MODEL_NAME = N_LLAMA_BENCH_FIELDS, QUANT, SYNTHETIC, SHAPE, KERNELS, MEM_NEEDED, MEM_AVAILABLE, FITS, REASON,
    RANKS, N_FIELDS
} field_id;

static const struct {
    const char *name;
    field_type type;
} FIELDS[N_FIELDS] = {
    {"build_commit", F_STR}, {"build_number", F_INT}, {"cpu_info", F_STR}, {"gpu_info", F_STR},
    {"backends", F_STR}, {"model_filename", F_STR}, {"model_type", F_STR}, {"model_size", F_INT},
    {"model_n_params", F_INT}, {"n_batch", F_INT}, {"n_ubatch", F_INT}, {"n_threads", F_INT},
    {"cpu_mask", F_STR}, {"cpu_strict", F_BOOL}, {"poll", F_INT}, {"type_k", F_STR}, {"type_v", F_STR},
    {"n_gpu_layers", F_INT}, {"n_cpu_moe", F_INT}, {"split_mode", F_STR}, {"main_gpu", F_INT},
    {"no_kv_offload", F_BOOL}, {"flash_attn", F_INT}, {"devices", F_STR}, {"tensor_split", F_STR},
    {"tensor_buft_overrides", F_STR}, {"load_mode", F_STR}, {"lazy_mode", F_STR}, {"embeddings", F_BOOL},
    {"no_op_offload", F_INT}, {"no_host", F_BOOL}, {"repack", F_BOOL}, {"fit_target", F_INT},
    {"fit_min_ctx", F_INT}, {"n_prompt", F_INT}, {"n_gen", F_INT}, {"n_depth", F_INT}, {"test_time", F_STR},
    {"avg_ns", F_INT}, {"stddev_ns", F_INT}, {"avg_ts", F_FLOAT}, {"stddev_ts", F_FLOAT},
    {"model_name", F_STR}, {"quant", F_STR}, {"synthetic", F_BOOL}, {"shape", F_STR}, {"kernels", F_STR},
    {"mem_needed", F_INT}, {"mem_available", F_INT}, {"fits", F_BOOL}, {"reason", F_STR},
    {"ranks", F_INT},
};

/* The value of field `id` of row r as text (booleans "0"/"1", as llama-bench keeps
 * them before formatting). Settings cllama does not have (GPU offload, CPU masks,
 * tensor overrides, fitting) take the value that means "not used" on a CPU. */
static void field_value(const bench_row *r, field_id id, char *b, size_t n) {
    unsigned long long u = 0;
    const char *s = NULL;
    int is_s = 1;
    switch (id) {
    case BUILD_COMMIT: s = r->build_commit; break;
    case BUILD_NUMBER: u = (unsigned)r->build_number, is_s = 0; break;
    case CPU_INFO: s = r->cpu_info; break;
    case GPU_INFO: s = ""; break;
    case BACKENDS: s = "CPU"; break;
    case MODEL_FILENAME: s = r->path; break;
    case MODEL_TYPE: s = r->model_type; break;
    case MODEL_SIZE: u = r->size, is_s = 0; break;
    case MODEL_N_PARAMS: u = r->params, is_s = 0; break;
    case N_BATCH: u = (unsigned)r->n_batch, is_s = 0; break;
    case N_UBATCH: u = (unsigned)r->n_ubatch, is_s = 0; break;
    case N_THREADS: u = (unsigned)r->threads, is_s = 0; break;
    case CPU_MASK: s = "0x0"; break;
    case TYPE_K: case TYPE_V: s = "f16"; break; /* the KV cache holds F16 */
    case SPLIT_MODE: s = "none"; break;
    case DEVICES: s = "CPU"; break;
    case TENSOR_SPLIT: s = "0.00"; break;
    case TENSOR_BUFT_OVERRIDES: s = "none"; break;
    case LOAD_MODE: s = r->shape[0] ? "memory" : "mmap"; break; /* synthetic models are built in memory */
    case LAZY_MODE: s = "none"; break;
    case REPACK: u = (unsigned)r->repack, is_s = 0; break;
    case N_PROMPT: u = (unsigned)r->n_prompt, is_s = 0; break;
    case N_GEN: u = (unsigned)r->n_gen, is_s = 0; break;
    case N_DEPTH: u = (unsigned)r->n_depth, is_s = 0; break;
    case TEST_TIME: s = r->test_time; break;
    case AVG_NS: u = (unsigned long long)llround(avg_ns(r)), is_s = 0; break;
    case STDDEV_NS: u = (unsigned long long)llround(stddev_ns(r)), is_s = 0; break;
    case AVG_TS: snprintf(b, n, "%.6f", r->avg_ts); return;
    case STDDEV_TS: snprintf(b, n, "%.6f", r->stddev_ts); return;
    case MODEL_NAME: s = r->model; break;
    case QUANT: s = r->quant; break;
    case SYNTHETIC: u = r->shape[0] != 0, is_s = 0; break;
    case SHAPE: s = r->shape; break;
    case KERNELS: s = r->kernels; break;
    case MEM_NEEDED: u = r->mem_needed, is_s = 0; break;
    case MEM_AVAILABLE: u = r->mem_avail, is_s = 0; break;
    case FITS: u = (unsigned)r->fits, is_s = 0; break;
    case REASON: s = r->reason; break;
    case RANKS: u = (unsigned)(r->ranks > 1 ? r->ranks : 1), is_s = 0; break;
    default: /* poll, n_gpu_layers, n_cpu_moe, main_gpu, flash_attn (off), the flags */
        is_s = 0;
        break;
    }
    if (is_s) snprintf(b, n, "%s", s);
    else snprintf(b, n, "%llu", u);
}

static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_value(FILE *f, field_id id, const char *v) {
    if (FIELDS[id].type == F_STR) json_str(f, v);
    else if (FIELDS[id].type == F_BOOL) fputs(strcmp(v, "0") ? "true" : "false", f);
    else fputs(v, f);
}

/* CSV: every value quoted, as llama-bench writes it. */
void bench_print_csv(FILE *f, const bench_row *rows, int n) {
    for (int k = 0; k < N_FIELDS; k++) fprintf(f, "%s%s", k ? "," : "", FIELDS[k].name);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < N_FIELDS; k++) {
            char v[640];
            field_value(&rows[i], (field_id)k, v, sizeof v);
            if (k) fputc(',', f);
            csv_str(f, v);
        }
        fputc('\n', f);
    }
}

void bench_print_json(FILE *f, const bench_row *rows, int n, int lines) {
    const char *ind = lines ? "" : "    ", *sep = lines ? ", " : ",\n";
    if (!lines) fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        fprintf(f, "%s{%s", lines ? "" : "  ", lines ? "" : "\n");
        for (int k = 0; k < N_FIELDS; k++) {
            if (k == N_LLAMA_BENCH_FIELDS) { /* llama-bench ends its fields with the samples */
                fprintf(f, "%s\"samples_ns\": [ ", ind);
                for (int j = 0; j < r->n_samples; j++) fprintf(f, "%s%.0f", j ? ", " : "", r->samples_ns[j]);
                fprintf(f, " ]%s%s\"samples_ts\": [ ", sep, ind);
                for (int j = 0; j < r->n_samples; j++) {
                    /* llama-bench's 6 significant digits, but always a JSON float */
                    char num[48];
                    snprintf(num, sizeof num, "%.6g", (r->n_prompt + r->n_gen) / (r->samples_ns[j] * 1e-9));
                    fprintf(f, "%s%s%s", j ? ", " : "", num, strpbrk(num, ".en") ? "" : ".0");
                }
                fprintf(f, " ]%s", sep);
            }
            char v[640];
            field_value(r, (field_id)k, v, sizeof v);
            fprintf(f, "%s\"%s\": ", ind, FIELDS[k].name);
            json_value(f, (field_id)k, v);
            fputs(k + 1 < N_FIELDS ? sep : lines ? "" : "\n", f);
        }
        fprintf(f, "%s}%s\n", lines ? "" : "  ", !lines && i + 1 < n ? "," : "");
    }
    if (!lines) fprintf(f, "]\n");
}

static void sql_str(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

void bench_print_sql(FILE *f, const bench_row *rows, int n) {
    static const char *sql_type[] = {"TEXT", "INTEGER", "INTEGER", "REAL"};
    fprintf(f, "CREATE TABLE IF NOT EXISTS llama_bench (\n");
    for (int k = 0; k < N_LLAMA_BENCH_FIELDS; k++)
        fprintf(f, "  %s %s%s\n", FIELDS[k].name, sql_type[FIELDS[k].type], k + 1 < N_LLAMA_BENCH_FIELDS ? "," : "");
    fprintf(f, ");\n\n");
    for (int i = 0; i < n; i++) {
        char v[640];
        if (!rows[i].fits) {
            bench_test_name(&rows[i], v, sizeof v);
            fprintf(f, "-- %s %s: N/A (", rows[i].model_type, v);
            for (const char *c = rows[i].reason; *c; c++) fputc(*c == '\n' ? ' ' : *c, f);
            fprintf(f, ")\n");
            continue;
        }
        fprintf(f, "INSERT INTO llama_bench (");
        for (int k = 0; k < N_LLAMA_BENCH_FIELDS; k++) fprintf(f, "%s%s", k ? ", " : "", FIELDS[k].name);
        fprintf(f, ") VALUES (");
        for (int k = 0; k < N_LLAMA_BENCH_FIELDS; k++) {
            field_value(&rows[i], (field_id)k, v, sizeof v);
            if (k) fputs(", ", f);
            sql_str(f, v);
        }
        fprintf(f, ");\n");
    }
}

/* ---- markdown ---- */

static void size_str(char *buf, size_t n, uint64_t b) {
    if (b < 1024ull * 1024 * 1024) snprintf(buf, n, "%.2f MiB", b / 1048576.0);
    else snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
}

static void params_str(char *buf, size_t n, uint64_t p) {
    if (p >= 1000000000ull) snprintf(buf, n, "%.2f B", p / 1e9);
    else snprintf(buf, n, "%.2f M", p / 1e6);
}

/* llama-bench's column widths (negative: left-aligned); "±" is two bytes in one column. */
void bench_print_md(FILE *f, const bench_row *rows, int n) {
    int show_b = 0, show_ub = 0;
    for (int i = 0; i < n; i++) {
        show_b |= rows[i].n_batch != BENCH_N_BATCH;
        show_ub |= rows[i].n_ubatch != BENCH_N_UBATCH;
    }
    fprintf(f, "| %-30s | %10s | %10s | %-10s | %7s |", "model", "size", "params", "backend", "threads");
    if (show_b) fprintf(f, " %7s |", "n_batch");
    if (show_ub) fprintf(f, " %8s |", "n_ubatch");
    fprintf(f, " %15s | %20s |\n", "test", "t/s");
    fprintf(f, "| ------------------------------ | ---------: | ---------: | ---------- | ------: |");
    if (show_b) fprintf(f, " ------: |");
    if (show_ub) fprintf(f, " -------: |");
    fprintf(f, " --------------: | -------------------: |\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char model[160], size[32], params[32], test[48], ts[240];
        snprintf(model, sizeof model, "%s%s", r->model_type, r->shape[0] ? " (synthetic)" : "");
        size_str(size, sizeof size, r->size);
        params_str(params, sizeof params, r->params);
        bench_test_name(r, test, sizeof test);
        char backend[16] = "CPU"; /* the layers split across MPI ranks: "MPI x2" */
        if (r->ranks > 1) snprintf(backend, sizeof backend, "MPI x%d", r->ranks);
        fprintf(f, "| %-30s | %10s | %10s | %-10s | %7d |", model, size, params, backend, r->threads);
        if (show_b) fprintf(f, " %7d |", r->n_batch);
        if (show_ub) fprintf(f, " %8d |", r->n_ubatch);
        if (r->fits) {
            snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
            fprintf(f, " %15s | %21s |\n", test, ts);
        } else {
            fprintf(f, " %15s | N/A (%s) |\n", test, r->reason);
        }
    }
    if (n) fprintf(f, "\nbuild: %s (%d)\n", rows[0].build_commit, rows[0].build_number);
}

/* ---- the summary ---- */

/* Rows of one model, quantization and thread count are consecutive; the summary takes
 * the first pp and the first tg test at depth 0 of each group. */
static int same_model(const bench_row *a, const bench_row *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->quant, b->quant) && !strcmp(a->path, b->path) &&
           a->threads == b->threads;
}

typedef struct {
    const bench_row *first, *pp, *tg;
} summary_line;

static void cell(char *buf, size_t n, const bench_row *r) {
    if (!r) snprintf(buf, n, "-");
    else if (!r->fits) snprintf(buf, n, "N/A");
    else snprintf(buf, n, "%.2f", r->avg_ts);
}

void bench_print_summary(FILE *f, const bench_row *rows, int n) {
    summary_line s[n > 0 ? n : 1];
    int k = 0;
    for (int i = 0; i < n;) {
        summary_line l = {&rows[i], NULL, NULL};
        int j = i;
        for (; j < n && same_model(&rows[i], &rows[j]); j++) {
            if (rows[j].n_depth) continue;
            if (rows[j].n_prompt && !rows[j].n_gen && !l.pp) l.pp = &rows[j];
            if (rows[j].n_gen && !rows[j].n_prompt && !l.tg) l.tg = &rows[j];
        }
        s[k++] = l;
        i = j;
    }
    char pp_name[48] = "", tg_name[48] = "";
    for (int i = 0; i < k; i++) {
        if (s[i].pp && !*pp_name) bench_test_name(s[i].pp, pp_name, sizeof pp_name);
        if (s[i].tg && !*tg_name) bench_test_name(s[i].tg, tg_name, sizeof tg_name);
    }
    fprintf(f, "| Model | Quantization | Processing Speed (t/s, %s) | Generation Speed (t/s, %s) | Memory needed |\n",
            *pp_name ? pp_name : "pp", *tg_name ? tg_name : "tg");
    fprintf(f, "|---|---|---|---|---|\n");
    int threads_vary = 0; /* then the model cell says which thread count a line is */
    for (int i = 1; i < n; i++) threads_vary |= rows[i].threads != rows[0].threads;
    for (int i = 0; i < k; i++) {
        char pp[32], tg[32], mem[240], model[160];
        cell(pp, sizeof pp, s[i].pp);
        cell(tg, sizeof tg, s[i].tg);
        snprintf(mem, sizeof mem, "%.2f GiB", s[i].first->mem_needed / 1073741824.0);
        if (!s[i].first->fits) {
            size_t l = strlen(mem);
            snprintf(mem + l, sizeof mem - l, " (does not fit: %s)", s[i].first->reason);
        }
        snprintf(model, sizeof model, "%s", s[i].first->model);
        if (threads_vary)
            snprintf(model + strlen(model), sizeof model - strlen(model), ", %d thread%s", s[i].first->threads,
                     s[i].first->threads == 1 ? "" : "s");
        fprintf(f, "| %s | %s | %s | %s | %s |\n", model, s[i].first->quant, pp, tg, mem);
    }
    /* where the figures come from: the CPU and the kernel set that ran (rows that did
     * not fit ran none) */
    const char *kernels = NULL;
    for (int i = 0; i < n && !kernels; i++)
        if (rows[i].kernels[0]) kernels = rows[i].kernels;
    if (n) fprintf(f, "\n%s; kernels: %s\n", rows[0].cpu_info[0] ? rows[0].cpu_info : "unknown CPU", kernels ? kernels : "none ran");
}
