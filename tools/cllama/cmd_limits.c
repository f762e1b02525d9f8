/* cllama limits: predicted generation and prompt-processing ceilings and memory fit
 * of models on devices, the limit that binds, and efficiency where a reported or
 * measured figure exists. The cost model is in src/limits.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "cllama_toolkit.h"
#include "commands.h"

static const char *HELP =
    "usage: cllama limits [-m MODEL | --shape NAME:QUANT ...] [--device NAME ...] [--ctx N] [--depth N]\n"
    "                     [--from-bench FILE.json] [-o md|json] [--svg FILE] [--list-devices]\n"
    "Predicts, per model and device: whether it fits in memory, the generation (tg)\n"
    "ceiling = bandwidth / bytes per token, the prompt-processing (pp) ceiling = peak\n"
    "FLOP/s / FLOPs per token, the binding limit, and efficiency = measured / ceiling\n"
    "where a reported figure (data/devices.tsv, data/reported.tsv) or a measured one\n"
    "(--from-bench, this host) exists. Device 'host' is this machine, probed (a few seconds).\n"
    "  --ctx N      context for the memory estimate (KV cache; default 4096)\n"
    "  --depth N    tokens already in the context when generating (KV read per token; default 0)\n"
    "With no arguments: Llama 2 7B Q8_0 and Q4_0, Llama 3 8B Q4_K_M and Llama 3 70B Q4_K_M on\n"
    "Apple M1 (7-core GPU) beside the reported figures, then on this host, M1 Pro and M1 Max.\n";

#define MAX_N 32

typedef struct {
    char label[96], shape[32], quant[16];
    cllama_hparams hp;
    uint64_t params, bytes;
} lmodel;

typedef struct {
    const lmodel *m;
    const cllama_device *d;
    double mem_gb, usable, tg_ceil, pp_ceil, tg_meas, pp_meas;
    const char *meas_kind; /* "reported", "measured" or NULL */
    int fits;
    cllama_cost cost;
} lrow;

static int load_model_spec(const char *cmd, const char *spec, int is_shape, lmodel *out) {
    memset(out, 0, sizeof *out);
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
    str_copy(out->label, sizeof out->label, d.name[0] ? d.name : spec);
    str_copy(out->quant, sizeof out->quant, "file");
    cllama_model_free(m);
    return 0;
}

static void host_device(cllama_device *d, int quiet) {
    cllama_host h;
    cllama_host_info(&h);
    memset(d, 0, sizeof *d);
    if (!quiet) fprintf(stderr, "limits: probing this host (read bandwidth, FP32 FMA and 8-bit MAC throughput)...\n");
    str_copy(d->name, sizeof d->name, "host");
    snprintf(d->label, sizeof d->label, "this host (%.40s, %d cores)", h.cpu, h.cores);
    str_copy(d->kind, sizeof d->kind, "host");
    d->bw_gbs = cllama_probe_read_bw(h.cores, 1ull << 30, 5);
    d->fp32_tflops = cllama_probe_flops(h.cores) / 1e3;
    d->fp16_tflops = d->fp32_tflops;
    d->int8_tops = cllama_probe_int8(h.cores) / 1e3;
    d->mem_gb[0] = h.mem_avail / 1e9;
    d->n_mem = 1;
    d->cores = h.cores;
    snprintf(d->source, sizeof d->source, "measured now: %s", h.isa);
    snprintf(d->notes, sizeof d->notes, "memory = available now (%.1f of %.1f GB)", h.mem_avail / 1e9, h.mem_total / 1e9);
}

/* Measured rows from `cllama bench -o json`: model "NAME (synthetic)" + quant. */
static void bench_figures(const cJSON *bench, const lmodel *m, double *pp, double *tg) {
    const cJSON *r;
    cJSON_ArrayForEach(r, bench) {
        const cJSON *model = cJSON_GetObjectItem(r, "model"), *quant = cJSON_GetObjectItem(r, "quant");
        const cJSON *ts = cJSON_GetObjectItem(r, "avg_ts"), *fits = cJSON_GetObjectItem(r, "fits");
        if (!cJSON_IsString(model) || !cJSON_IsString(quant) || !cJSON_IsNumber(ts) || !cJSON_IsTrue(fits)) continue;
        char name[96];
        str_copy(name, sizeof name, model->valuestring);
        char *suffix = strstr(name, " (synthetic)");
        if (suffix) *suffix = 0;
        if (strcmp(name, m->label) || strcmp(quant->valuestring, m->quant)) continue;
        int np = cJSON_GetObjectItem(r, "n_prompt") ? cJSON_GetObjectItem(r, "n_prompt")->valueint : 0;
        int ng = cJSON_GetObjectItem(r, "n_gen") ? cJSON_GetObjectItem(r, "n_gen")->valueint : 0;
        if (np && !ng && !*pp) *pp = ts->valuedouble;
        if (ng && !np && !*tg) *tg = ts->valuedouble;
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

static void compute_row(lrow *r, int n_ctx, int depth, const cJSON *bench) {
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
        if (bench) bench_figures(bench, r->m, &r->pp_meas, &r->tg_meas);
        if (r->pp_meas || r->tg_meas) r->meas_kind = "measured";
    } else if (cllama_reported(d, r->m->shape, r->m->quant, &r->pp_meas, &r->tg_meas)) {
        r->meas_kind = "reported";
    }
}

static void fmt_ts(char *b, size_t n, double v) {
    if (v > 0) snprintf(b, n, "%.2f", v);
    else snprintf(b, n, "-");
}

static void fmt_eff(char *b, size_t n, double meas, double ceil) {
    if (meas > 0 && ceil > 0) snprintf(b, n, "%.0f %%", 100 * meas / ceil);
    else snprintf(b, n, "-");
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

static void print_md(const lrow *rows, int n, int n_ctx, int depth) {
    printf("Context %d tokens for memory, generation at depth %d. Ceilings: tg = bandwidth / bytes per token, "
           "pp = peak FLOP/s / FLOPs per token.\n\n", n_ctx, depth);
    printf("| Device | Model | Quantization | Size (GB) | Memory needed / usable (GB) | Fits | tg ceiling (t/s) | tg %s | tg eff. "
           "| pp ceiling (t/s) | pp %s | pp eff. | Binding limit |\n", "measured", "measured");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
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
        printf("| %s | %s | %s | %.2f | %.1f / %.1f | %s | %.2f | %s | %s | %.1f | %s | %s | %s |\n", r->d->label,
               r->m->label, r->m->quant, r->m->bytes / 1e9, r->cost.mem_needed / 1e9, r->usable / 1e9,
               r->fits ? "yes" : "no", r->tg_ceil, tgm, tge, r->pp_ceil, ppm, ppe, bind);
    }
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
        cJSON_AddStringToObject(o, "binding", bind);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(arr);
    puts(s);
    free(s);
    cJSON_Delete(arr);
}

/* Roofline: attainable GFLOPS = min(peak, bandwidth x intensity) per device, log-log,
 * with each row's tg (intensity = FLOPs / bytes per token) and pp (weights reused
 * over a 512-token batch) points at their measured or reported throughput. */
static int write_roofline(const char *path, const lrow *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int W = 820, H = 520, L = 80, R = 220, T = 40, B = 60;
    const double x0 = -1, x1 = 4, y0 = 0, y1 = 5.5; /* log10 ranges: FLOP/byte, GFLOPS */
#define PX(v) (L + (log10(v) - x0) / (x1 - x0) * (W - L - R))
#define PY(v) (H - B - (log10(v) - y0) / (y1 - y0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Roofline: attainable GFLOPS vs "
               "arithmetic intensity</text>\n", L);
    for (int e = (int)x0; e <= (int)x1; e++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" "
                   "text-anchor=\"middle\">1e%d</text>\n", PX(pow(10, e)), T, PX(pow(10, e)), H - B, PX(pow(10, e)),
                H - B + 16, e);
    for (int e = (int)y0; e <= (int)y1; e++)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
                   "text-anchor=\"end\">1e%d</text>\n", L, PY(pow(10, e)), W - R, PY(pow(10, e)), L - 6,
                PY(pow(10, e)) + 4, e);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">arithmetic intensity (FLOP per byte of weights read)"
               "</text>\n", (L + W - R) / 2, H - 20);
    fprintf(f, "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" text-anchor=\"middle\">GFLOPS</text>\n",
            (T + H - B) / 2, (T + H - B) / 2);
    static const char *colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"};
    const cllama_device *seen[MAX_N];
    int n_seen = 0;
    for (int i = 0; i < n; i++) {
        int k;
        for (k = 0; k < n_seen && seen[k] != rows[i].d; k++) {}
        if (k == n_seen) seen[n_seen++] = rows[i].d;
        const char *c = colors[k % 6];
        const cllama_device *d = rows[i].d;
        const lrow *r = &rows[i];
        double peak = peak_tflops(d, r->m->quant) * 1e3;
        if (k == n_seen - 1 && peak > 0) {
            double knee = peak / d->bw_gbs;
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
                    c, PX(0.1), PY(d->bw_gbs * 0.1), PX(knee), PY(peak), PX(1e4), PY(peak));
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"%s\">%s</text>\n", W - R + 6, PY(peak) + 4, c, d->label);
        }
        double ai = r->cost.flops_per_token / r->cost.bytes_per_token;
        if (r->tg_meas > 0)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%s %s tg %.2f t/s</title></circle>\n",
                    PX(ai), PY(r->tg_meas * r->cost.flops_per_token / 1e9), c, r->m->label, r->m->quant, r->tg_meas);
        if (r->pp_meas > 0)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\"><title>%s %s pp %.2f t/s</title></rect>\n",
                    PX(ai * 512) - 4, PY(r->pp_meas * r->cost.flops_per_token / 1e9) - 4, c, r->m->label, r->m->quant,
                    r->pp_meas);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\">circles: generation, squares: prompt processing (batch 512)</text>\n", L, T + 14);
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    return fclose(f) ? -1 : 0;
}

int cmd_limits(int argc, char **argv) {
    const char *cmd = "limits", *v, *fmt = "md", *svg = NULL, *bench_path = NULL;
    const char *mspec[MAX_N], *dspec[MAX_N];
    int m_is_shape[MAX_N], n_m = 0, n_d = 0, n_ctx = 4096, depth = 0;
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
        else return usage_error(cmd, "unknown option '%s'", a);
    }
    static const char *def_models[] = {"llama2-7b:Q8_0", "llama2-7b:Q4_0", "llama3-8b:Q4_K_M", "llama3-70b:Q4_K_M"};
    static const char *def_devices[] = {"m1-7gpu", "host", "m1-pro-16gpu", "m1-max-32gpu"};
    if (!n_m)
        for (int i = 0; i < 4; i++) mspec[n_m] = def_models[i], m_is_shape[n_m++] = 1;
    if (!n_d)
        for (int i = 0; i < 4; i++) dspec[n_d++] = def_devices[i];

    static cllama_device devs[MAX_N];
    for (int i = 0; i < n_d; i++) {
        if (!strcmp(dspec[i], "host")) host_device(&devs[i], !strcmp(fmt, "json"));
        else if (cllama_device_find(dspec[i], &devs[i])) return usage_error(cmd, "%s", cllama_last_error());
    }
    static lmodel models[MAX_N];
    for (int i = 0; i < n_m; i++) {
        int rc = load_model_spec(cmd, mspec[i], m_is_shape[i], &models[i]);
        if (rc) return rc;
    }
    cJSON *bench = NULL;
    if (bench_path) {
        size_t len;
        char *txt = read_file(bench_path, &len);
        if (!txt) return runtime_error(cmd, "cannot read %s", bench_path);
        bench = cJSON_Parse(txt);
        free(txt);
        if (!cJSON_IsArray(bench)) {
            cJSON_Delete(bench);
            return runtime_error(cmd, "%s is not the JSON array that 'cllama bench -o json' writes", bench_path);
        }
    }
    static lrow rows[MAX_N * MAX_N];
    int n = 0;
    for (int d = 0; d < n_d; d++)
        for (int m = 0; m < n_m; m++) {
            rows[n].m = &models[m];
            rows[n].d = &devs[d];
            compute_row(&rows[n++], n_ctx, depth, bench);
        }
    if (!strcmp(fmt, "json")) print_json(rows, n, n_ctx, depth);
    else print_md(rows, n, n_ctx, depth);
    cJSON_Delete(bench);
    if (svg && write_roofline(svg, rows, n)) return runtime_error(cmd, "cannot write %s", svg);
    return 0;
}
