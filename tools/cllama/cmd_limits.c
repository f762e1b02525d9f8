/* cllama limits: predicted generation and prompt-processing ceilings and memory fit
 * of models on devices, the limit that binds, and efficiency where a reported or
 * measured figure exists. The cost model is in src/limits.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "svg.h"
#include "cllama.h"
#include "cllama_toolkit.h"
#include "commands.h"

static const char *HELP =
    "usage: cllama limits [-m MODEL | --shape NAME:QUANT ...] [--device NAME ...] [--ctx N] [--depth N]\n"
    "                     [--from-bench FILE.json] [-o md|json] [--svg FILE] [--list-devices]\n"
    "                     [--nodes N [--link NAME|GBPS,LATENCY_US]]\n"
    "Predicts, per model and device: whether it fits in memory, the generation (tg)\n"
    "ceiling = bandwidth / bytes per token, the prompt-processing (pp) ceiling = peak\n"
    "FLOP/s / FLOPs per token, the binding limit, and efficiency = measured / ceiling\n"
    "where a reported figure (data/devices.tsv, data/reported.tsv) or a measured one\n"
    "(--from-bench, this host) exists. Device 'host' is this machine, probed (a few seconds,\n"
    "best of 3 rounds).\n"
    "  --ctx N      context for the memory estimate (KV cache; default 4096)\n"
    "  --depth N    tokens already in the context when generating (KV read per token; default 0)\n"
    "  --from-bench FILE.json  'cllama bench -o json' (or llama-bench -o json) results: a record\n"
    "               counts for a -m FILE naming the same file (model_filename) or for a --shape\n"
    "               of the same shape and quantization, at n_depth = --depth; its first pp-only\n"
    "               and tg-only tests become the measured figures of device 'host'\n"
    "  --nodes N    the model pipelined over N devices of each kind (mpirun -np N): memory per\n"
    "               device, tg (the stages' reads plus a hop per stage and the logits back) and\n"
    "               pp (micro-batches flowing through the stages) beside one device\n"
    "  --link L     what joins them: 1gbe, 10gbe (default), 100gbe, tb4, ib-hdr, or GBPS,LATENCY_US\n"
    "With no arguments: Llama 2 7B Q8_0 and Q4_0, Llama 3 8B Q4_K_M and Llama 3 70B Q4_K_M on\n"
    "Apple M1 (7-core GPU) beside the reported figures, then on this host, M1 Pro and M1 Max.\n";

#define MAX_N 32
/* Host probe rounds: each reads bandwidth, FP32 and 8-bit peaks once; the best is kept. */
#define PROBE_ROUNDS 3

typedef struct {
    char label[96], shape[32], quant[16];
    char path[PATH_MAX]; /* -m FILE as given; "" for a shape */
    cllama_hparams hp;
    uint64_t params, bytes;
    double bench_pp, bench_tg; /* t/s from --from-bench at --depth; 0 = none */
    int bench_hits;            /* bench records that name this model, at any depth */
    int bench_other_depth;     /* a depth of such a record other than --depth; -1 = none */
} lmodel;

typedef struct {
    const lmodel *m;
    const cllama_device *d;
    double mem_gb, usable, tg_ceil, pp_ceil, tg_meas, pp_meas;
    const char *meas_kind; /* "reported", "measured" or NULL */
    int fits;
    int tg_over, pp_over; /* efficiency shown above 100 % */
    cllama_cost cost;
} lrow;

/* Fills *out from a --shape NAME[:QUANT] or -m FILE spec. Returns 0, or the exit
 * status after printing the error (2 for an unknown shape or scheme, 1 for a file that
 * does not load). */
static int load_model_spec(const char *cmd, const char *spec, int is_shape, lmodel *out) {
    memset(out, 0, sizeof *out);
    out->bench_other_depth = -1;
    if (is_shape) {
        char name[64], *colon;
        str_copy(name, sizeof name, spec);
        str_copy(out->quant, sizeof out->quant, "Q4_0");
        if ((colon = strchr(name, ':'))) {
            *colon = 0;
            str_copy(out->quant, sizeof out->quant, colon + 1);
        }
        cllama_shape s;
        if (cllama_shape_find(name, &s) || cllama_scheme_check(out->quant)) return usage_error(cmd, "%s", cllama_last_error());
        cllama_shape_hparams(&s, &out->hp);
        cllama_synth_size(&s, out->quant, &out->params, &out->bytes);
        str_copy(out->shape, sizeof out->shape, s.name);
        str_copy(out->label, sizeof out->label, s.name);
        return 0;
    }
    cllama_model *m;
    cllama_model_params mp = cli_model_params();
    mp.no_repack = 1; /* only the description is needed */
    if (cllama_model_load(spec, &mp, &m)) return runtime_error(cmd, "%s", cllama_last_error());
    cllama_model_desc d;
    cllama_model_describe(m, &d);
    out->hp = d.hp;
    out->params = d.n_params;
    out->bytes = d.weight_bytes;
    str_copy(out->path, sizeof out->path, spec);
    str_copy(out->label, sizeof out->label, d.name[0] ? d.name : spec);
    /* The file type as bench names it (general.file_type, or read off the tensor types). */
    str_copy(out->quant, sizeof out->quant, d.file_type);
    cllama_model_free(m);
    return 0;
}

/* Device 'host': this machine's bandwidth and compute peaks, each the best of
 * PROBE_ROUNDS interleaved rounds (other work on the host only lowers a reading).
 * Returns 0, or 1 after printing the error. */
static int host_device(const char *cmd, cllama_device *d, int quiet) {
    cllama_host h;
    cllama_host_info(&h);
    memset(d, 0, sizeof *d);
    if (!quiet)
        fprintf(stderr, "limits: probing this host (read bandwidth, FP32 FMA and 8-bit MAC throughput, best of %d rounds)...\n",
                PROBE_ROUNDS);
    cllama_probe_peaks p;
    if (cllama_probe_peaks_best(h.cores, 1ull << 30, PROBE_ROUNDS, &p))
        return runtime_error(cmd, "cannot probe this host: no memory for the 1 GiB read buffer or no threads");
    str_copy(d->name, sizeof d->name, "host");
    snprintf(d->label, sizeof d->label, "this host (%.40s, %d cores)", h.cpu, h.cores);
    str_copy(d->kind, sizeof d->kind, "host");
    d->bw_gbs = p.read_gbs;
    d->fp32_tflops = p.fp32_gflops / 1e3;
    d->fp16_tflops = d->fp32_tflops;
    d->int8_tops = p.int8_gops / 1e3;
    d->mem_gb[0] = h.mem_avail / 1e9;
    d->n_mem = 1;
    d->cores = h.cores;
    snprintf(d->source, sizeof d->source, "measured now, best of %d rounds: %s", p.rounds, h.isa);
    snprintf(d->notes, sizeof d->notes, "memory = available now (%.1f of %.1f GB)", h.mem_avail / 1e9, h.mem_total / 1e9);
    return 0;
}

/* ---- --from-bench ----
 * Records of `cllama bench -o json`: llama-bench's keys (model_filename, n_prompt,
 * n_gen, n_depth, avg_ts, ...) then cllama's (quant, shape, fits, ...); records of the
 * older format ("model": "SHAPE (synthetic)" or a file's name, "quant", "fits") too. */

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer field, 0 when absent (llama-bench's records before n_depth have none). */
static int jint(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* Whether paths a and b name the same file: their canonical paths when both resolve
 * (bench may have been given a relative path or a symlink), else the strings. */
static int same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb)) return !strcmp(ra, rb);
    return !strcmp(a, b);
}

/* Whether bench record r is a run of model m, at whatever test and depth: a file by
 * its path, a synthetic model by shape and quantization. */
static int record_names_model(const cJSON *r, const lmodel *m) {
    const char *file = jstr(r, "model_filename"), *shape = jstr(r, "shape"), *quant = jstr(r, "quant");
    if (file && *file) return m->path[0] && same_file(file, m->path);
    if (shape && *shape) return !m->path[0] && quant && !strcmp(shape, m->shape) && !strcmp(quant, m->quant);
    const char *name = jstr(r, "model"), *syn = " (synthetic)";
    if (!name || !quant || strcmp(quant, m->quant)) return 0;
    size_t n = strlen(name), sl = strlen(syn);
    if (n > sl && !strcmp(name + n - sl, syn))
        return !m->path[0] && n - sl == strlen(m->shape) && !strncmp(name, m->shape, n - sl);
    return m->path[0] && !strcmp(name, m->label);
}

/* "'NAME QUANT TEST' (model_filename PATH)" for messages, TEST as llama-bench names
 * it (pp512, tg128, pp512+tg128, "@ d512" at a depth). */
static void record_desc(const cJSON *r, char *b, size_t n) {
    const char *name = jstr(r, "model_name"), *quant = jstr(r, "quant"), *file = jstr(r, "model_filename"),
               *shape = jstr(r, "shape");
    if (!name) name = jstr(r, "model");
    if (!name) name = jstr(r, "model_type");
    if (!name) name = file && *file ? file : "?";
    int np = jint(r, "n_prompt"), ng = jint(r, "n_gen"), dp = jint(r, "n_depth");
    char test[64];
    if (np && ng) snprintf(test, sizeof test, "pp%d+tg%d", np, ng);
    else if (np) snprintf(test, sizeof test, "pp%d", np);
    else snprintf(test, sizeof test, "tg%d", ng);
    if (dp) snprintf(test + strlen(test), sizeof test - strlen(test), " @ d%d", dp);
    int k = snprintf(b, n, "'%s%s%s %s'", name, quant ? " " : "", quant ? quant : "", test);
    if (k < 0 || (size_t)k >= n) return;
    if (file && *file) snprintf(b + k, n - k, " (model_filename %s)", file);
    else if (shape && *shape) snprintf(b + k, n - k, " (shape %s)", shape);
}

/* Sets each model's bench_pp and bench_tg from the first pp-only and tg-only records
 * that ran (fits not false) at n_depth == depth, and says on stderr, once per record,
 * which records name no model here, and which models have records but none usable. */
static void bench_apply(const cJSON *bench, lmodel *models, int n_m, int depth) {
    const cJSON *r;
    cJSON_ArrayForEach(r, bench) {
        if (!cJSON_IsObject(r)) continue;
        const cJSON *fits = cJSON_GetObjectItemCaseSensitive(r, "fits"), *ts = cJSON_GetObjectItemCaseSensitive(r, "avg_ts");
        if (fits && !cJSON_IsTrue(fits)) continue; /* did not run: neither a figure nor a miss */
        int np = jint(r, "n_prompt"), ng = jint(r, "n_gen"), dp = jint(r, "n_depth"), named = 0;
        for (int i = 0; i < n_m; i++) {
            lmodel *m = &models[i];
            if (!record_names_model(r, m)) continue;
            named = 1;
            m->bench_hits++;
            if (dp != depth) {
                m->bench_other_depth = dp;
                continue;
            }
            if (!cJSON_IsNumber(ts) || !(ts->valuedouble > 0)) continue;
            if (np > 0 && ng == 0 && !m->bench_pp) m->bench_pp = ts->valuedouble;
            if (ng > 0 && np == 0 && !m->bench_tg) m->bench_tg = ts->valuedouble;
        }
        if (!named) {
            char desc[PATH_MAX + 256];
            record_desc(r, desc, sizeof desc);
            fprintf(stderr, "limits: warning: bench record %s matches no model here (give the same -m FILE or "
                            "--shape NAME:QUANT)\n", desc);
        }
    }
    for (int i = 0; i < n_m; i++) {
        const lmodel *m = &models[i];
        if (!m->bench_hits || m->bench_pp || m->bench_tg) continue;
        if (m->bench_other_depth >= 0)
            fprintf(stderr, "limits: warning: the bench records of '%s %s' are at depth %d, not --depth %d: no "
                            "measured figures\n", m->label, m->quant, m->bench_other_depth, depth);
        else
            fprintf(stderr, "limits: warning: the bench records of '%s %s' have no pp-only or tg-only test with a "
                            "figure: no measured figures\n", m->label, m->quant);
    }
}

/* The compute roof of prompt processing, TFLOPS (or tera-ops): GPUs multiply in F16
 * whatever the weights; a CPU engine multiplies quantized weights as 8-bit integers
 * against 8-bit activations (where the 8-bit peak was probed, on this host) and float
 * weights in FP32. */
static double peak_tflops(const cllama_device *d, const char *quant) {
    int cpu = !strcmp(d->kind, "host") || !strcmp(d->kind, "cpu");
    if (!cpu) return d->fp16_tflops > 0 ? d->fp16_tflops : d->fp32_tflops;
    int is_float = quant[0] == 'F' || !strncmp(quant, "BF", 2);
    return !is_float && d->int8_tops > 0 ? d->int8_tops : d->fp32_tflops;
}

/* An efficiency that shows as more than "100 %" once rounded. */
static int over_100(double meas, double ceil) { return meas > 0 && ceil > 0 && 100 * meas / ceil >= 100.5; }

/* Fills row r (model and device set): cost, memory fit, ceilings, the reported or
 * measured figures and whether an efficiency shows above 100 %. */
static void compute_row(lrow *r, int n_ctx, int depth) {
    const cllama_device *d = r->d;
    cllama_cost_model(&r->m->hp, r->m->params, r->m->bytes, n_ctx, depth, &r->cost);
    /* The largest memory size offered decides whether the device can run it at all. */
    r->mem_gb = 0;
    for (int i = 0; i < d->n_mem; i++) r->mem_gb = d->mem_gb[i] > r->mem_gb ? d->mem_gb[i] : r->mem_gb;
    r->usable = cllama_device_usable_bytes(d, r->mem_gb);
    if (!strcmp(d->kind, "apple"))
        for (int i = 0; i < d->n_mem; i++) /* the smallest configuration that fits */
            if (cllama_device_usable_bytes(d, d->mem_gb[i]) >= r->cost.mem_needed &&
                cllama_device_usable_bytes(d, d->mem_gb[i]) < r->usable) {
                r->mem_gb = d->mem_gb[i];
                r->usable = cllama_device_usable_bytes(d, d->mem_gb[i]);
            }
    r->fits = r->usable >= r->cost.mem_needed;
    r->tg_ceil = d->bw_gbs * 1e9 / r->cost.bytes_per_token;
    double peak = peak_tflops(d, r->m->quant) * 1e12;
    r->pp_ceil = peak > 0 ? peak / r->cost.flops_per_token : 0;
    r->pp_meas = r->tg_meas = 0;
    r->meas_kind = NULL;
    if (!strcmp(d->kind, "host")) {
        r->pp_meas = r->m->bench_pp;
        r->tg_meas = r->m->bench_tg;
        if (r->pp_meas || r->tg_meas) r->meas_kind = "measured";
    } else if (cllama_reported(d, r->m->shape, r->m->quant, &r->pp_meas, &r->tg_meas)) {
        r->meas_kind = "reported";
    }
    r->tg_over = over_100(r->tg_meas, r->tg_ceil);
    r->pp_over = over_100(r->pp_meas, r->pp_ceil);
}

static void fmt_ts(char *b, size_t n, double v) {
    if (v > 0) snprintf(b, n, "%.2f", v);
    else snprintf(b, n, "-");
}

/* "NN %", with the footnote marker " *" when above 100 %; "-" without both figures. */
static void fmt_eff(char *b, size_t n, double meas, double ceil) {
    if (meas > 0 && ceil > 0) snprintf(b, n, "%.0f %%%s", 100 * meas / ceil, over_100(meas, ceil) ? " *" : "");
    else snprintf(b, n, "-");
}

/* Why an efficiency can read above 100 %: the ceiling's inputs read low. */
static const char *over_note(const lrow *r) {
    return !strcmp(r->d->kind, "host")
               ? "above 100 %: the ceiling is a probe of this host taken while other work may share it; the probe "
                 "read below what the engine reached"
               : "above 100 %: the device's bandwidth or peak FLOP/s in data/devices.tsv is below what the reported "
                 "run reached";
}

static void binding(const lrow *r, char *b, size_t n) {
    if (!r->fits)
        snprintf(b, n, "memory capacity: needs %.1f GB, %.1f GB usable of %.0f GB", r->cost.mem_needed / 1e9,
                 r->usable / 1e9, r->mem_gb);
    else
        snprintf(b, n, "tg: bandwidth (%.0f GB/s / %.2f GB per token); pp: compute (%.1f TFLOPS / %.1f GFLOP per token)",
                 r->d->bw_gbs, r->cost.bytes_per_token / 1e9, r->pp_ceil * r->cost.flops_per_token / 1e12,
                 r->cost.flops_per_token / 1e9);
}

/* The largest CPU cache (bytes, from sysfs; 0 if unknown). */
static uint64_t cache_bytes(void) {
    uint64_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            uint64_t v = strtoull(buf, &end, 10);
            v *= *end == 'K' ? 1024ull : *end == 'M' ? 1048576ull : 1ull;
            if (v > best) best = v;
        }
        fclose(f);
    }
    return best;
}

static void print_md(const lrow *rows, int n, int n_ctx, int depth) {
    printf("Context %d tokens for memory, generation at depth %d. Ceilings: tg = bandwidth / bytes per token, "
           "pp = peak FLOP/s / FLOPs per token.\n\n", n_ctx, depth);
    printf("| Device | Model | Quantization | Size (GB) | Memory needed / usable (GB) | Fits | tg ceiling (t/s) | tg %s | tg eff. "
           "| pp ceiling (t/s) | pp %s | pp eff. | Binding limit |\n", "measured", "measured");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    int over_host = 0, over_dev = 0;
    for (int i = 0; i < n; i++) {
        const lrow *r = &rows[i];
        char tgm[32], ppm[32], tge[16], ppe[16], bind[256];
        fmt_ts(tgm, sizeof tgm, r->tg_meas);
        fmt_ts(ppm, sizeof ppm, r->pp_meas);
        fmt_eff(tge, sizeof tge, r->tg_meas, r->tg_ceil);
        fmt_eff(ppe, sizeof ppe, r->pp_meas, r->pp_ceil);
        binding(r, bind, sizeof bind);
        if (r->meas_kind && strcmp(r->meas_kind, "measured")) {
            size_t l = strlen(tgm);
            if (r->tg_meas > 0) snprintf(tgm + l, sizeof tgm - l, " (rep.)");
            l = strlen(ppm);
            if (r->pp_meas > 0) snprintf(ppm + l, sizeof ppm - l, " (rep.)");
        }
        if (r->tg_over || r->pp_over) *(strcmp(r->d->kind, "host") ? &over_dev : &over_host) = 1;
        printf("| %s | %s | %s | %.2f | %.1f / %.1f | %s | %.2f | %s | %s | %.1f | %s | %s | %s |\n", r->d->label,
               r->m->label, r->m->quant, r->m->bytes / 1e9, r->cost.mem_needed / 1e9, r->usable / 1e9,
               r->fits ? "yes" : "no", r->tg_ceil, tgm, tge, r->pp_ceil, ppm, ppe, bind);
    }
    if (over_host) {
        printf("\nEfficiency marked * (above 100 %%) on this host: the probe read low. The ceiling comes from a probe of this "
               "host's bandwidth and compute (best of %d rounds) taken while other work may share it; a figure above "
               "100 %% means the probe read below what the engine reached, not that the engine beat the hardware.",
               PROBE_ROUNDS);
        /* A model whose weights fit in the last-level cache is not read from memory at
         * all: its generation is not bound by the probed DRAM bandwidth. */
        uint64_t llc = cache_bytes();
        for (int i = 0; i < n; i++)
            if (!strcmp(rows[i].d->kind, "host") && (rows[i].tg_over || rows[i].pp_over) && llc &&
                rows[i].m->bytes <= llc) {
                printf(" Here %s's weights (%.1f MB) fit in the CPU's %.0f MB last-level cache, so memory bandwidth "
                       "does not bound it.", rows[i].m->label, rows[i].m->bytes / 1e6, llc / 1e6);
                break;
            }
        printf("\n");
    }
    if (over_dev)
        printf("\nEfficiency marked * (above 100 %%) on a listed device: the reported run reached more than its bandwidth or "
               "peak FLOP/s in data/devices.tsv allow; those figures read low.\n");
    printf("\nApple GPUs: usable memory is Metal's default working-set limit (about 2/3 of RAM up to 36 GB, 3/4 "
           "above); 'rep.' = reported llama.cpp figure (pp512 / tg128); sources in data/devices.tsv.\n");
}

static void print_json(const lrow *rows, int n, int n_ctx, int depth) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const lrow *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        char bind[256];
        binding(r, bind, sizeof bind);
        cJSON_AddStringToObject(o, "device", r->d->name);
        cJSON_AddStringToObject(o, "device_label", r->d->label);
        cJSON_AddStringToObject(o, "model", r->m->label);
        if (r->m->path[0]) cJSON_AddStringToObject(o, "model_filename", r->m->path);
        else cJSON_AddStringToObject(o, "shape", r->m->shape);
        cJSON_AddStringToObject(o, "quant", r->m->quant);
        cJSON_AddNumberToObject(o, "params", (double)r->m->params);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)r->m->bytes);
        cJSON_AddNumberToObject(o, "n_ctx", n_ctx);
        cJSON_AddNumberToObject(o, "depth", depth);
        cJSON_AddNumberToObject(o, "bytes_per_token", r->cost.bytes_per_token);
        cJSON_AddNumberToObject(o, "flops_per_token", r->cost.flops_per_token);
        cJSON_AddNumberToObject(o, "kv_bytes", r->cost.kv_bytes);
        cJSON_AddNumberToObject(o, "mem_needed", r->cost.mem_needed);
        cJSON_AddNumberToObject(o, "mem_usable", r->usable);
        cJSON_AddNumberToObject(o, "mem_gb", r->mem_gb);
        cJSON_AddBoolToObject(o, "fits", r->fits);
        cJSON_AddNumberToObject(o, "bandwidth_gbs", r->d->bw_gbs);
        cJSON_AddNumberToObject(o, "tg_ceiling", r->tg_ceil);
        cJSON_AddNumberToObject(o, "pp_ceiling", r->pp_ceil);
        if (r->meas_kind) cJSON_AddStringToObject(o, "figures", r->meas_kind);
        if (r->tg_meas > 0) {
            cJSON_AddNumberToObject(o, "tg_ts", r->tg_meas);
            cJSON_AddNumberToObject(o, "tg_efficiency", r->tg_meas / r->tg_ceil);
        }
        if (r->pp_meas > 0 && r->pp_ceil > 0) {
            cJSON_AddNumberToObject(o, "pp_ts", r->pp_meas);
            cJSON_AddNumberToObject(o, "pp_efficiency", r->pp_meas / r->pp_ceil);
        }
        cJSON_AddBoolToObject(o, "efficiency_over_100", r->tg_over || r->pp_over);
        if (r->tg_over || r->pp_over) cJSON_AddStringToObject(o, "note", over_note(r));
        cJSON_AddStringToObject(o, "binding", bind);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(arr);
    puts(s);
    free(s);
    cJSON_Delete(arr);
}

/* ---- roofline chart ----
 * Attainable GFLOPS = min(peak, bandwidth x intensity) per device, log-log, with each
 * row's tg point (intensity = FLOPs / bytes per token) and pp point (weights reused
 * over a 512-token batch) at its measured or reported throughput. Each device's roof
 * and label are drawn once; labels of points and devices are placed so they do not
 * overlap (greedy, from estimated text widths). */

/* Canvas and margins in px, and the log10 ranges of the axes (FLOP/byte, GFLOPS). */
typedef struct {
    int W, H, L, R, T, B;
    double x0, x1, y0, y1;
} chart;

/* Pixel x of intensity v (FLOP/byte) and pixel y of throughput v (GFLOPS), log scales. */
static double px(const chart *c, double v) { return c->L + (log10(v) - c->x0) / (c->x1 - c->x0) * (c->W - c->L - c->R); }
static double py(const chart *c, double v) { return c->H - c->B - (log10(v) - c->y0) / (c->y1 - c->y0) * (c->H - c->T - c->B); }

typedef struct {
    double x0, y0, x1, y1;
} box;

/* Whether boxes a and b share any area. */
static int overlaps(const box *a, const box *b) { return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1; }

/* Width in px of s at font size `size`: DejaVu Sans, the usual sans-serif of rsvg and
 * of browsers on Linux, averages under 0.6 em per character in labels like these. */
static double text_w(const char *s, double size) { return 0.6 * size * (double)strlen(s); }

#define LABEL_COLS 30 /* characters per line of a device label: 30 x 7.2 px fits the right margin */
#define LABEL_LINES 4

/* Splits s into at most LABEL_LINES lines of at most LABEL_COLS characters, at spaces
 * (a longer word is cut). Returns the number of lines. */
static int wrap_label(const char *s, char lines[LABEL_LINES][LABEL_COLS + 1]) {
    int n = 0;
    while (*s && n < LABEL_LINES) {
        size_t len = strlen(s), take = len;
        if (len > LABEL_COLS) {
            take = LABEL_COLS;
            while (take > 0 && s[take] != ' ') take--;
            if (take == 0) take = LABEL_COLS;
        }
        memcpy(lines[n], s, take);
        lines[n++][take] = 0;
        s += take;
        while (*s == ' ') s++;
    }
    return n;
}

/* One device on the chart: its roofs (GFLOPS; on CPUs quantized weights meet the 8-bit
 * roof and float weights the FP32 one, so a device has up to two) and label block. */
typedef struct {
    const cllama_device *d;
    const char *color;
    double peak[2];
    int n_peak;
    double want, top; /* label block top: at its roof, and where it went */
    int n_lines;
    char lines[LABEL_LINES][LABEL_COLS + 1];
} chart_dev;

/* One point: px position, what it shows and the label that says so. */
typedef struct {
    double x, y;
    int pp;
    const char *color;
    char label[64];
    char title[256];
} chart_mark;

/* A roof as drawn: three points in px (start, knee, right edge), kept so that labels
 * can keep off the line. */
typedef struct {
    double x[3], y[3];
} roof_line;

/* Writes device v's roof at `peak` GFLOPS (dashed: the second roof of a CPU) and
 * returns the line as drawn. */
static roof_line draw_roof(FILE *f, const chart *c, const chart_dev *v, double peak, int dashed) {
    /* From where bandwidth x intensity enters the plot (left edge or bottom) to the knee,
     * then flat at the peak to the right edge. */
    double bw = v->d->bw_gbs, xs = pow(10, c->x0);
    if (bw * xs < pow(10, c->y0)) xs = pow(10, c->y0) / bw;
    double knee = peak / bw > xs ? peak / bw : xs;
    roof_line r = {{px(c, xs), px(c, knee), px(c, pow(10, c->x1))},
                   {py(c, bw * xs < peak ? bw * xs : peak), py(c, peak), py(c, peak)}};
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
            v->color, dashed ? " stroke-dasharray=\"6 4\"" : "", r.x[0], r.y[0], r.x[1], r.y[1], r.x[2], r.y[2]);
    return r;
}

/* Whether box b meets a roof line (sampled every 2 px along each segment): 2 for a flat
 * part (it would strike the text through), 1 for a sloped one only, 0 for none. */
static int hits_roofs(const box *b, const roof_line *roofs, int n_roofs) {
    int hit = 0;
    for (int i = 0; i < n_roofs; i++)
        for (int s = 1; s >= 0; s--) {
            double dx = roofs[i].x[s + 1] - roofs[i].x[s], dy = roofs[i].y[s + 1] - roofs[i].y[s];
            int steps = (int)(sqrt(dx * dx + dy * dy) / 2) + 1;
            for (int k = 0; k <= steps; k++) {
                double x = roofs[i].x[s] + dx * k / steps, y = roofs[i].y[s] + dy * k / steps;
                if (x >= b->x0 - 1 && x <= b->x1 + 1 && y >= b->y0 - 1 && y <= b->y1 + 1) {
                    if (s == 1 && dy == 0) return 2;
                    hit = 1;
                    break;
                }
            }
        }
    return hit;
}

/* Places a point's label and writes it: of the spots beside the point (right, left)
 * and above or below it (centred, or starting or ending at the point) 12 px further
 * each time, the nearest that stays in the plot and overlaps no point and no label
 * placed before. A sloped roof line across the text costs as much as 24 px of distance
 * (the white halo keeps it legible, where a long leader line reads worse), a flat one
 * 60 px (it strikes the text through). A label away from its point gets a leader line.
 * With no spot free, right of the point. Returns the text's box. */
static box place_label(FILE *f, const chart *c, const chart_mark *m, const chart_mark *marks, int n_marks,
                       const box *placed, int n_placed, const roof_line *roofs, int n_roofs) {
    static const double roof_cost[] = {0, 24, 60};
    static const char *anchors[] = {"start", "end", "middle"};
    const double size = 10, w = text_w(m->label, size);
    box best = {m->x + 8, m->y - 4, m->x + 8 + w, m->y + 6};
    double bx = m->x + 8, by = m->y + 4, best_cost = INFINITY;
    int anchor = 0;
    for (int step = 0; step < 13; step++) {
        /* step 0: level with the point; then alternately above and below, 12 px further. */
        double dy = step == 0 ? 4 : (step % 2 ? -1 : 1) * (4 + 12 * ((step + 1) / 2));
        for (int a = 0; a < (step ? 3 : 2); a++) {
            /* start: text right of the point; end: left of it; middle: centred on it. */
            double dx = a == 0 ? 8 : a == 1 ? -8 : 0, x0 = a == 0 ? m->x + dx : a == 1 ? m->x + dx - w : m->x - w / 2;
            box b = {x0, m->y + dy - 8, x0 + w, m->y + dy + 2};
            int ok = b.x0 >= c->L + 1 && b.x1 <= c->W - c->R - 1 && b.y0 >= c->T + 1 && b.y1 <= c->H - c->B - 1;
            for (int i = 0; ok && i < n_marks; i++) {
                box p = {marks[i].x - 5, marks[i].y - 5, marks[i].x + 5, marks[i].y + 5};
                ok = !overlaps(&b, &p);
            }
            box pad = {b.x0 - 3, b.y0 - 3, b.x1 + 3, b.y1 + 3}; /* 3 px clear between labels */
            for (int i = 0; ok && i < n_placed; i++) ok = !overlaps(&pad, &placed[i]);
            if (!ok) continue;
            double cost = fabs(dy - 4) + (step ? (a == 2 ? 0 : 3 + a) : 2 * a) + roof_cost[hits_roofs(&b, roofs, n_roofs)];
            if (cost < best_cost) {
                best_cost = cost;
                best = b;
                bx = m->x + dx;
                by = m->y + dy;
                anchor = a;
            }
        }
    }
    /* The leader runs from the point to the nearest point of the text's box. */
    double lx = fmin(fmax(m->x, best.x0), best.x1), ly = fmin(fmax(m->y, best.y0), best.y1);
    if (hypot(lx - m->x, ly - m->y) > 8)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"0.6\"/>\n", m->x,
                m->y, lx, ly, m->color);
    /* A white halo keeps the text legible where it must cross a line. */
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\" stroke=\"white\" stroke-width=\"3\" "
               "paint-order=\"stroke\"%s%s%s>", bx, by, m->color, anchor ? " text-anchor=\"" : "",
            anchor ? anchors[anchor] : "", anchor ? "\"" : "");
    svg_text(f, m->label, 0);
    fputs("</text>\n", f);
    return best;
}

/* Point label: the model (cut to 24 characters), quantization and test. */
static void mark_label(char *b, size_t n, const lrow *r, const char *test) {
    char model[32];
    size_t len = strlen(r->m->label);
    if (len > 24) snprintf(model, sizeof model, "%.21s...", r->m->label);
    else snprintf(model, sizeof model, "%s", r->m->label);
    snprintf(b, n, "%s %s %s", model, r->m->quant, test);
}

/* Tick label of 10^e: 0.1, 1, 10, 100, 1k, 10k, 100k, 1M, ... */
static void tick_label(int e, char *b, size_t n) {
    static const char *unit[] = {"", "k", "M", "G"};
    if (e < 0 || e >= 12) snprintf(b, n, "%g", pow(10, e));
    else snprintf(b, n, "%g%s", pow(10, e % 3), unit[e / 3]);
}

/* Writes the chart to f (opened for writing) and closes it. Returns 0, or -1 with
 * errno set if the file could not be written. */
static int write_roofline(FILE *f, const lrow *rows, int n) {
    /* The GFLOPS axis spans the decades the roofs and points use: from the lowest roof's
     * value at the left edge (at least 1) to half a decade above the highest roof or point. */
    double lo = 1, hi = 10;
    for (int i = 0; i < n; i++) {
        const lrow *r = &rows[i];
        double peak = peak_tflops(r->d, r->m->quant) * 1e3, fpt = r->cost.flops_per_token / 1e9;
        double top = fmax(peak, fmax(r->tg_meas * fpt, r->pp_meas * fpt));
        hi = top > hi ? top : hi;
        lo = r->d->bw_gbs * 0.1 > 0 && r->d->bw_gbs * 0.1 < lo ? r->d->bw_gbs * 0.1 : lo;
        if (r->tg_meas > 0 && r->tg_meas * fpt < lo) lo = r->tg_meas * fpt;
    }
    const chart c = {.W = 920, .H = 560, .L = 64, .R = 250, .T = 58, .B = 56, .x0 = -1, .x1 = 4,
                     .y0 = floor(log10(lo)), .y1 = ceil(2 * log10(hi) + 0.6) / 2};
    static const char *colors[] = {"#4e79a7", "#e8710a", "#3d8b37", "#d62728", "#17a2b8", "#9467bd"};
    static chart_dev devs[MAX_N];
    static chart_mark marks[2 * MAX_N * MAX_N];
    static box placed[2 * MAX_N * MAX_N];
    static roof_line roofs[2 * MAX_N];
    int n_dev = 0, n_marks = 0, two_roofs = 0, n_roofs = 0;
    for (int i = 0; i < n; i++) {
        const lrow *r = &rows[i];
        int k;
        for (k = 0; k < n_dev && devs[k].d != r->d; k++) {}
        chart_dev *v = &devs[k];
        if (k == n_dev) {
            memset(v, 0, sizeof *v);
            v->d = r->d;
            v->color = colors[n_dev++ % 6];
        }
        double peak = peak_tflops(r->d, r->m->quant) * 1e3;
        if (peak > 0 && v->n_peak < 2 && (v->n_peak == 0 || v->peak[0] != peak)) v->peak[v->n_peak++] = peak;
        double ai = r->cost.flops_per_token / r->cost.bytes_per_token;
        for (int pp = 0; pp < 2; pp++) {
            double ts = pp ? r->pp_meas : r->tg_meas;
            if (!(ts > 0)) continue;
            chart_mark *m = &marks[n_marks++];
            m->x = px(&c, pp ? ai * 512 : ai);
            m->y = py(&c, ts * r->cost.flops_per_token / 1e9);
            m->pp = pp;
            m->color = v->color;
            mark_label(m->label, sizeof m->label, r, pp ? "pp" : "tg");
            /* The device by its short name: its label is drawn once, by its roof. */
            snprintf(m->title, sizeof m->title, "%s %s %s %.2f t/s (%s) on %s", r->m->label, r->m->quant,
                     pp ? "pp" : "tg", ts, r->meas_kind ? r->meas_kind : "", r->d->name);
        }
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", c.W, c.H);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Roofline: attainable GFLOPS vs "
               "arithmetic intensity</text>\n", c.L);
    /* Tick labels as plain numbers, the x ones 20 px below the axis and the y ones 10 px
     * left of it, so the two at the lower-left corner stay apart. */
    char tick[16];
    for (int e = (int)c.x0; e <= (int)c.x1; e++) {
        tick_label(e, tick, sizeof tick);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" "
                   "text-anchor=\"middle\">%s</text>\n", px(&c, pow(10, e)), c.T, px(&c, pow(10, e)), c.H - c.B,
                px(&c, pow(10, e)), c.H - c.B + 20, tick);
    }
    for (int e = (int)c.y0; e <= (int)floor(c.y1); e++) {
        tick_label(e, tick, sizeof tick);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
                   "text-anchor=\"end\">%s</text>\n", c.L, py(&c, pow(10, e)), c.W - c.R, py(&c, pow(10, e)), c.L - 10,
                py(&c, pow(10, e)) + 4, tick);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", c.L, c.T,
            c.W - c.L - c.R, c.H - c.T - c.B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">arithmetic intensity (FLOP per byte of weights read)"
               "</text>\n", (c.L + c.W - c.R) / 2, c.H - 12);
    fprintf(f, "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" text-anchor=\"middle\">GFLOPS</text>\n",
            (c.T + c.H - c.B) / 2, (c.T + c.H - c.B) / 2);

    /* Roofs, then device labels stacked down the right margin in roof order, each as
     * near its roof as the ones above allow (a leader line when moved). */
    int order[MAX_N];
    for (int k = 0; k < n_dev; k++) {
        chart_dev *v = &devs[k];
        if (v->n_peak == 2 && v->peak[1] > v->peak[0]) { /* the higher roof solid and labelled */
            double t = v->peak[0];
            v->peak[0] = v->peak[1];
            v->peak[1] = t;
        }
        for (int p = 0; p < v->n_peak; p++) roofs[n_roofs++] = draw_roof(f, &c, v, v->peak[p], p == 1);
        two_roofs |= v->n_peak == 2;
        v->n_lines = wrap_label(v->d->label, v->lines);
        v->want = v->n_peak ? py(&c, v->peak[0]) - 7 : c.T;
        int j = k;
        for (; j > 0 && devs[order[j - 1]].want > v->want; j--) order[j] = order[j - 1];
        order[j] = k;
    }
    double floor_y = c.T - 10;
    for (int j = 0; j < n_dev; j++) {
        chart_dev *v = &devs[order[j]];
        v->top = v->want > floor_y ? v->want : floor_y;
        floor_y = v->top + 14 * v->n_lines + 4;
        double x = c.W - c.R + 8;
        if (v->n_peak && fabs(v->top - v->want) > 2)
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"0.8\"/>\n",
                    c.W - c.R, py(&c, v->peak[0]), x - 2, v->top + 7, v->color);
        fprintf(f, "<text fill=\"%s\">", v->color);
        for (int l = 0; l < v->n_lines; l++) {
            fprintf(f, "<tspan x=\"%.1f\" y=\"%.1f\">", x, v->top + 11 + 14 * l);
            svg_text(f, v->lines[l], 0);
            fputs(l + 1 < v->n_lines ? " </tspan>" : "</tspan>", f);
        }
        fputs("</text>\n", f);
    }

    fprintf(f, "<text x=\"%d\" y=\"42\" font-size=\"11\">circles: generation (tg); squares: prompt processing (pp, "
               "512-token batch)%s</text>\n", c.L, two_roofs ? "; dashed: FP32 roof of float weights on a CPU" : "");
    for (int i = 0; i < n_marks; i++) {
        const chart_mark *m = &marks[i];
        if (m->pp)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\"><title>", m->x - 4, m->y - 4,
                    m->color);
        else fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", m->x, m->y, m->color);
        svg_text(f, m->title, 0);
        fprintf(f, "</title></%s>\n", m->pp ? "rect" : "circle");
    }
    for (int i = 0; i < n_marks; i++) placed[i] = place_label(f, &c, &marks[i], marks, n_marks, placed, i, roofs, n_roofs);
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) || bad) return -1;
    return 0;
}

/* --nodes: each row's model on `nodes` devices of its kind over `link`, beside one. */
static void print_nodes(const lrow *rows, int n, int nodes, const cllama_link *link, int n_ctx, int json) {
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json) {
        printf("Pipeline over %d devices each, %s (%g GB/s, %g us a hop); context %d; pp: a prompt of %d tokens "
               "in micro-batches of 64\n\n", nodes, link->label, link->gbs, link->latency_us, n_ctx, n_ctx);
        printf("| model | device | memory per device | fits | tg t/s, 1 device | tg t/s, %d | link share of tg | "
               "hop (us) | pp t/s, 1 device | pp t/s, %d |\n|---|---|--:|---|--:|--:|--:|--:|--:|--:|\n", nodes, nodes);
    }
    for (int i = 0; i < n; i++) {
        const lrow *r = &rows[i];
        cllama_pipeline_pred pr;
        double peak = peak_tflops(r->d, r->m->quant) * 1e12;
        cllama_pipeline_predict(&r->cost, &r->m->hp, r->m->params, r->m->bytes, r->d->bw_gbs, peak, nodes, link,
                                n_ctx, 64, &pr);
        /* the smallest memory size a device of the kind offers that holds its share */
        double gb = 0, usable = 0;
        for (int k = 0; k < r->d->n_mem; k++) {
            double u = cllama_device_usable_bytes(r->d, r->d->mem_gb[k]);
            if (!gb || (u >= pr.mem_per_node && (usable < pr.mem_per_node || u < usable)) ||
                (usable < pr.mem_per_node && u > usable))
                gb = r->d->mem_gb[k], usable = u;
        }
        int fits = usable >= pr.mem_per_node;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", r->m->label);
            cJSON_AddStringToObject(o, "quant", r->m->quant);
            cJSON_AddStringToObject(o, "device", r->d->name);
            cJSON_AddNumberToObject(o, "nodes", nodes);
            cJSON_AddNumberToObject(o, "n_prompt", n_ctx);
            cJSON_AddStringToObject(o, "link", link->name);
            cJSON_AddNumberToObject(o, "link_gbs", link->gbs);
            cJSON_AddNumberToObject(o, "link_latency_us", link->latency_us);
            cJSON_AddNumberToObject(o, "mem_per_node_bytes", pr.mem_per_node);
            cJSON_AddNumberToObject(o, "mem_gb", gb);
            cJSON_AddBoolToObject(o, "fits", fits);
            cJSON_AddBoolToObject(o, "fits_one", r->fits);
            cJSON_AddNumberToObject(o, "tg_one", r->tg_ceil);
            cJSON_AddNumberToObject(o, "tg", pr.tg);
            cJSON_AddNumberToObject(o, "link_share", pr.link_share);
            cJSON_AddNumberToObject(o, "hop_us", pr.hop_s * 1e6);
            cJSON_AddNumberToObject(o, "pp_one", r->pp_ceil);
            cJSON_AddNumberToObject(o, "pp", pr.pp);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        char tg1[32], pp1[32];
        fmt_ts(tg1, sizeof tg1, r->tg_ceil);
        fmt_ts(pp1, sizeof pp1, r->pp_ceil);
        printf("| %s %s | %s | %.1f GB of %g GB | %s | %s%s | %.2f | %.1f %% | %.0f | %s%s | %.1f |\n", r->m->label,
               r->m->quant,
               r->d->label, pr.mem_per_node / 1e9, gb, fits ? "yes" : "**no**", tg1, r->fits ? "" : " (does not fit)",
               fits ? pr.tg : 0.0, 100 * pr.link_share, pr.hop_s * 1e6, pp1, r->fits ? "" : " (does not fit)",
               fits ? pr.pp : 0.0);
    }
    if (json) {
        char *t = cJSON_Print(arr);
        puts(t);
        free(t);
        cJSON_Delete(arr);
    }
}

int cmd_limits(int argc, char **argv) {
    const char *cmd = "limits", *v, *fmt = "md", *svg = NULL, *bench_path = NULL;
    const char *mspec[MAX_N], *dspec[MAX_N];
    int m_is_shape[MAX_N], n_m = 0, n_d = 0, n_ctx = 4096, depth = 0, nodes = 0;
    const char *link_spec = "10gbe";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--list-devices")) {
            cllama_device d;
            printf("| name | device | kind | GB/s | memory (GB) | cores | FP16 TFLOPS | FP32 TFLOPS | source |\n");
            printf("|---|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; !cllama_device_at(k, &d); k++) {
                char mem[64] = "";
                for (int j = 0; j < d.n_mem; j++)
                    snprintf(mem + strlen(mem), sizeof mem - strlen(mem), "%s%g", j ? ", " : "", d.mem_gb[j]);
                printf("| %s | %s | %s | %g | %s | %d | %g | %g | %s |\n", d.name, d.label, d.kind, d.bw_gbs, mem, d.cores,
                       d.fp16_tflops, d.fp32_tflops, d.source);
            }
            return 0;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        if (!strcmp(a, "-m") || !strcmp(a, "--shape")) {
            if (n_m == MAX_N) return usage_error(cmd, "too many models");
            m_is_shape[n_m] = a[1] != 'm';
            mspec[n_m++] = v;
        } else if (!strcmp(a, "--device")) {
            if (n_d == MAX_N) return usage_error(cmd, "too many devices");
            dspec[n_d++] = v;
        } else if (!strcmp(a, "--ctx")) {
            if (arg_int(cmd, a, v, 1, 1 << 24, &n_ctx)) return EXIT_USAGE;
        } else if (!strcmp(a, "--depth")) {
            if (arg_int(cmd, a, v, 0, 1 << 24, &depth)) return EXIT_USAGE;
        } else if (!strcmp(a, "-o")) {
            if (strcmp(v, "md") && strcmp(v, "json")) return usage_error(cmd, "-o expects md or json, got '%s'", v);
            fmt = v;
        } else if (!strcmp(a, "--svg")) svg = v;
        else if (!strcmp(a, "--from-bench")) bench_path = v;
        else if (!strcmp(a, "--nodes")) {
            if (arg_int(cmd, a, v, 1, 4096, &nodes)) return EXIT_USAGE;
        } else if (!strcmp(a, "--link")) link_spec = v;
        else return usage_error(cmd, "unknown option '%s'", a);
    }
    static const char *def_models[] = {"llama2-7b:Q8_0", "llama2-7b:Q4_0", "llama3-8b:Q4_K_M", "llama3-70b:Q4_K_M"};
    static const char *def_devices[] = {"m1-7gpu", "host", "m1-pro-16gpu", "m1-max-32gpu"};
    if (!n_m)
        for (int i = 0; i < 4; i++) mspec[n_m] = def_models[i], m_is_shape[n_m++] = 1;
    if (!n_d)
        for (int i = 0; i < 4; i++) dspec[n_d++] = def_devices[i];
    cllama_link link;
    if (cllama_link_find(link_spec, &link)) return usage_error(cmd, "--link: %s", cllama_last_error());
    if (nodes && svg) return usage_error(cmd, "--svg draws one device per point: not with --nodes");
    int have_host = 0;
    for (int i = 0; i < n_d; i++) {
        have_host |= !strcmp(dspec[i], "host");
        cllama_device d;
        if (strcmp(dspec[i], "host") && cllama_device_find(dspec[i], &d)) return usage_error(cmd, "%s", cllama_last_error());
    }

    /* Inputs and outputs are checked before the host probe (a few seconds). */
    cJSON *bench = NULL;
    if (bench_path) {
        size_t len;
        char *txt = read_file(bench_path, &len);
        if (!txt) return runtime_error(cmd, "cannot read %s: %s", bench_path, strerror(errno));
        bench = cJSON_Parse(txt);
        free(txt);
        if (!cJSON_IsArray(bench)) {
            cJSON_Delete(bench);
            return runtime_error(cmd, "%s is not the JSON array that 'cllama bench -o json' writes", bench_path);
        }
    }
    static lmodel models[MAX_N];
    for (int i = 0; i < n_m; i++) {
        int rc = load_model_spec(cmd, mspec[i], m_is_shape[i], &models[i]);
        if (rc) {
            cJSON_Delete(bench);
            return rc;
        }
    }
    FILE *svgf = svg ? fopen(svg, "w") : NULL;
    if (svg && !svgf) {
        cJSON_Delete(bench);
        return runtime_error(cmd, "cannot write %s: %s", svg, strerror(errno));
    }
    if (bench) {
        /* Measured figures are this machine's: they belong to device 'host' alone. */
        if (!have_host)
            fprintf(stderr, "limits: warning: --from-bench figures apply only to device 'host', which is not among "
                            "the devices (add --device host)\n");
        bench_apply(bench, models, n_m, depth);
        cJSON_Delete(bench);
    }

    static cllama_device devs[MAX_N];
    for (int i = 0; i < n_d; i++) {
        if (!strcmp(dspec[i], "host") ? host_device(cmd, &devs[i], !strcmp(fmt, "json"))
                                      : cllama_device_find(dspec[i], &devs[i])) {
            if (svgf) {
                fclose(svgf);
                remove(svg);
            }
            return EXIT_RUNTIME;
        }
    }
    static lrow rows[MAX_N * MAX_N];
    int n = 0;
    for (int d = 0; d < n_d; d++)
        for (int m = 0; m < n_m; m++) {
            rows[n].m = &models[m];
            rows[n].d = &devs[d];
            compute_row(&rows[n++], n_ctx, depth);
        }
    if (nodes) print_nodes(rows, n, nodes, &link, n_ctx, !strcmp(fmt, "json"));
    else if (!strcmp(fmt, "json")) print_json(rows, n, n_ctx, depth);
    else print_md(rows, n, n_ctx, depth);
    if (svgf && write_roofline(svgf, rows, n)) return runtime_error(cmd, "cannot write %s: %s", svg, strerror(errno));
    return 0;
}
