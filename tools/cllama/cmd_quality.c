/* cllama quality: what each quantization of a model costs and buys, in one table.
 * The base model is quantized in memory to each type (the library's quantizer, as
 * `cllama quantize` writes it), and each result is measured against the base on one
 * text (perplexity and KL divergence by llama-perplexity's method, ppl.h) and for
 * speed (prompt processing and generation tokens/s, bench.h's timing). With --shape
 * the model is synthetic (random weights): size and speed only. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "bench.h"
#include "cllama.h"
#include "cllama_toolkit.h"
#include "commands.h"
#include "ppl.h"
#include "prompt.h"
#include "svg.h"

static const char *HELP =
    "usage: cllama quality -m BASE.gguf -f TEXT [--types T,T,...] [options]\n"
    "       cllama quality --shape NAME [--types T,T,...] [options]\n"
    "Quantizes BASE in memory to each type (llama.cpp's recipes, as 'cllama quantize'\n"
    "writes them; nothing is written to disk unless --save) and measures each against\n"
    "BASE: size, bits per weight, perplexity of TEXT, mean KL divergence of its next-token\n"
    "distributions from BASE's, how often both pick the same top token, and prompt\n"
    "processing (pp) and generation (tg) tokens/s. Perplexity and KL divergence follow\n"
    "llama-perplexity (see 'cllama perplexity -h'). A quantized BASE (e.g. a Q4_1 download)\n"
    "is dequantized first, to --base-type, and that is the reference row. --shape: a\n"
    "synthetic model of a real shape (random weights, see 'cllama bench --list-shapes'):\n"
    "size and speed only.\n"
    "  -m, --model FILE     the base model (GGUF)\n"
    "  --shape NAME         a built-in shape instead (llama2-7b, llama3-8b, ...)\n"
    "  -f, --file FILE      the text for perplexity and KL divergence ('-': standard input)\n"
    "  --types LIST         file types, comma-separated (default Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0;\n"
    "                       any of 'cllama quantize -h')\n"
    "  --base-type T        what a quantized base is dequantized to: F32 (default), F16, BF16\n"
    "  -c, --ctx-size N     tokens per perplexity chunk (default 512)\n"
    "  --chunks N           score at most N chunks (default: all)\n"
    "  -p N                 prompt tokens of the pp test (default 512; 0: no pp test)\n"
    "  -n N                 generated tokens of the tg test (default 128; 0: no tg test)\n"
    "  -r N                 repetitions of each speed test (default 3)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  -o md|csv|json       the table on stdout (default md)\n"
    "  --svg FILE           also draw size against KL divergence and tg speed against KL\n"
    "                       divergence (with --shape: against bits per weight)\n"
    "  --save DIR           also write each quantized model to DIR/TYPE.gguf\n";

#define MAX_TYPES 24
#define DEFAULT_TYPES "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0"

typedef struct {
    char type[16];
    int is_base;
    int fits;              /* 0: not measured, `reason` says why */
    char reason[160];
    uint64_t n_params, bytes; /* weight tensors */
    double quant_s;        /* quantizing (or building) it, s */
    int has_ppl;
    ppl_result pr;         /* with the base's statistics for every row but the base */
    double pp_ts, pp_sd, tg_ts, tg_sd; /* tokens/s, mean and standard deviation; 0: not run */
} q_row;

typedef struct {
    const char *model, *shape, *text, *svg, *save_dir, *fmt, *base_type;
    char base_from[16]; /* the file type of the base file, when it was dequantized */
    char name[128];
    char cpu[128];
    int n_types;
    char types[MAX_TYPES][16];
    int n_threads, n_prompt, n_gen, reps;
    ppl_params pp;
    int n_tokens;
} q_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double bpw(const q_row *r) { return r->n_params ? 8.0 * (double)r->bytes / (double)r->n_params : 0; }

/* The speed of `m`: a warm-up, then reps of pp n_prompt and of tg n_gen on a fresh
 * context, as `cllama bench` times them. 0 or a runtime error already reported. */
static int measure_speed(const q_opts *o, cllama_model *m, q_row *r) {
    if (!o->n_prompt && !o->n_gen) return 0;
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = o->n_prompt + o->n_gen + 1;
    cp.n_threads = o->n_threads;
    cllama_context *ctx = NULL;
    if (cllama_context_init(m, &cp, &ctx)) return runtime_error("quality", "%s: %s", r->type, cllama_last_error());
    int n_vocab = cllama_model_n_vocab(m), rc = 0;
    uint64_t rng = 0x853c49e6748fea9bull;
    for (int k = 0; k < 2 && !rc; k++) {
        bench_row b = {0};
        b.n_prompt = k == 0 ? o->n_prompt : 0;
        b.n_gen = k == 1 ? o->n_gen : 0;
        if (!b.n_prompt && !b.n_gen) continue;
        if ((rc = bench_fill_depth(ctx, n_vocab, 0, 512, &rng) || bench_measure(ctx, n_vocab, 512, o->reps, &rng, &b)))
            break;
        *(k == 0 ? &r->pp_ts : &r->tg_ts) = b.avg_ts;
        *(k == 0 ? &r->pp_sd : &r->tg_sd) = b.stddev_ts;
    }
    cllama_context_free(ctx);
    return rc ? runtime_error("quality", "%s: %s", r->type, cllama_last_error()) : 0;
}

static void describe(cllama_model *m, q_row *r) {
    cllama_model_desc d;
    cllama_model_describe(m, &d);
    r->n_params = d.n_params;
    r->bytes = d.weight_bytes;
}

/* One line on stderr per finished row. */
static void report_row(const q_opts *o, const q_row *r) {
    fprintf(stderr, "quality: %-8s %8.1f MiB %6.2f bpw", r->type, r->bytes / 1048576.0, bpw(r));
    if (r->has_ppl) fprintf(stderr, "  PPL %.4f", r->pr.ppl);
    if (r->has_ppl && r->pr.has_base) fprintf(stderr, "  KLD %.6f  same top %.2f %%", r->pr.kld, 100 * r->pr.same_top);
    if (r->pp_ts > 0) fprintf(stderr, "  pp%d %.1f t/s", o->n_prompt, r->pp_ts);
    if (r->tg_ts > 0) fprintf(stderr, "  tg%d %.1f t/s", o->n_gen, r->tg_ts);
    if (!r->is_base || o->shape) fprintf(stderr, "  (%s in %.1f s)", o->shape ? "built" : "quantized", r->quant_s);
    fputc('\n', stderr);
}

/* Writes img to DIR/TYPE.gguf. 0 or a runtime error already reported. */
static int save_image(const q_opts *o, const char *type, const void *img, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", o->save_dir, type);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(img, 1, size, f) == size;
    if (f && fclose(f)) ok = 0;
    if (!ok) {
        int e = errno;
        remove(path);
        return runtime_error("quality", "cannot write %s: %s", path, strerror(e));
    }
    fprintf(stderr, "quality: wrote %s\n", path);
    return 0;
}

/* ---- output ---------------------------------------------------------------------------- */

static const char *row_label(const q_opts *o, const q_row *r, char *buf, size_t n) {
    if (r->is_base && o->base_from[0]) snprintf(buf, n, "%s (base: %s dequantized)", r->type, o->base_from);
    else if (r->is_base) snprintf(buf, n, "%s (base)", r->type);
    else snprintf(buf, n, "%s", r->type);
    return buf;
}

static void print_md(const q_opts *o, const q_row *rows, int n) {
    int q = !o->shape;
    printf("%s%s, %d thread%s, %s\n", o->name, o->shape ? " (synthetic: random weights)" : "", o->n_threads,
           o->n_threads == 1 ? "" : "s", o->cpu);
    if (q) {
        const ppl_result *p = NULL;
        for (int i = 0; i < n && !p; i++)
            if (rows[i].has_ppl) p = &rows[i].pr;
        if (p)
            printf("text: %s, %d tokens; %d chunks of %d, %d positions scored\n", o->text, o->n_tokens, p->n_chunks,
                   p->n_ctx, p->n_scored);
    }
    printf("\n| type | size (GiB) | bits/weight |%s pp%d t/s | tg%d t/s |\n", q ? " PPL | mean KLD | same top |" : "",
           o->n_prompt, o->n_gen);
    printf("|---|--:|--:|%s--:|--:|\n", q ? "--:|--:|--:|" : "");
    for (int i = 0; i < n; i++) {
        const q_row *r = &rows[i];
        char label[64];
        printf("| %s | %.3f | %.2f |", row_label(o, r, label, sizeof label), r->bytes / 1073741824.0, bpw(r));
        if (!r->fits) {
            printf("%s N/A (%s) | |\n", q ? " | | |" : "", r->reason);
            continue;
        }
        if (q) {
            if (r->has_ppl) printf(" %.4f ± %.4f |", r->pr.ppl, r->pr.ppl_err);
            else printf(" — |");
            if (r->has_ppl && r->pr.has_base)
                printf(" %.6f ± %.6f | %.2f %% |", r->pr.kld, r->pr.kld_err, 100 * r->pr.same_top);
            else printf(" — | — |");
        }
        for (int k = 0; k < 2; k++) { /* pp, tg; no spread from one sample */
            double ts = k ? r->tg_ts : r->pp_ts, sd = k ? r->tg_sd : r->pp_sd;
            if (ts <= 0) printf(" — |");
            else if (o->reps > 1) printf(" %.2f ± %.2f |", ts, sd);
            else printf(" %.2f |", ts);
        }
        putchar('\n');
    }
}

static void print_csv(const q_opts *o, const q_row *rows, int n) {
    printf("type,base,measured,size_bytes,n_params,bits_per_weight,ppl,ppl_err,kld,kld_err,kld_p99,same_top_pct,"
           "rms_dp_pct,ppl_ratio,n_prompt,pp_ts,pp_sd,n_gen,tg_ts,tg_sd,quantize_s\n");
    for (int i = 0; i < n; i++) {
        const q_row *r = &rows[i];
        int k = r->has_ppl && r->pr.has_base;
        printf("%s,%d,%d,%llu,%llu,%.4f,", r->type, r->is_base, r->fits, (unsigned long long)r->bytes,
               (unsigned long long)r->n_params, bpw(r));
        if (r->has_ppl) printf("%.6f,%.6f,", r->pr.ppl, r->pr.ppl_err);
        else printf(",,");
        if (k)
            printf("%.8f,%.8f,%.8f,%.4f,%.4f,%.6f,", r->pr.kld, r->pr.kld_err, r->pr.kld_p[PPL_PCT_99], 100 * r->pr.same_top,
                   100 * r->pr.rms_dp, r->pr.ppl_ratio);
        else printf(",,,,,,");
        printf("%d,%.4f,%.4f,%d,%.4f,%.4f,%.3f\n", o->n_prompt, r->pp_ts, r->pp_sd, o->n_gen, r->tg_ts, r->tg_sd,
               r->quant_s);
    }
}

static void print_json(const q_opts *o, const q_row *rows, int n) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->name);
    if (o->model) cJSON_AddStringToObject(j, "path", o->model);
    if (o->shape) cJSON_AddStringToObject(j, "shape", o->shape);
    if (o->base_from[0]) cJSON_AddStringToObject(j, "base_dequantized_from", o->base_from);
    if (o->text) {
        cJSON_AddStringToObject(j, "text", o->text);
        cJSON_AddNumberToObject(j, "text_tokens", o->n_tokens);
    }
    cJSON_AddStringToObject(j, "cpu", o->cpu);
    cJSON_AddNumberToObject(j, "threads", o->n_threads);
    cJSON_AddNumberToObject(j, "n_prompt", o->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", o->n_gen);
    cJSON_AddNumberToObject(j, "repetitions", o->reps);
    cJSON *a = cJSON_AddArrayToObject(j, "rows");
    for (int i = 0; i < n; i++) {
        const q_row *r = &rows[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "type", r->type);
        cJSON_AddBoolToObject(x, "base", r->is_base);
        cJSON_AddBoolToObject(x, "measured", r->fits);
        if (!r->fits) cJSON_AddStringToObject(x, "reason", r->reason);
        cJSON_AddNumberToObject(x, "size_bytes", (double)r->bytes);
        cJSON_AddNumberToObject(x, "n_params", (double)r->n_params);
        cJSON_AddNumberToObject(x, "bits_per_weight", bpw(r));
        cJSON_AddNumberToObject(x, "quantize_s", r->quant_s);
        if (r->has_ppl) {
            cJSON_AddNumberToObject(x, "n_ctx", r->pr.n_ctx);
            cJSON_AddNumberToObject(x, "chunks", r->pr.n_chunks);
            cJSON_AddNumberToObject(x, "ppl", r->pr.ppl);
            cJSON_AddNumberToObject(x, "ppl_err", r->pr.ppl_err);
        }
        if (r->has_ppl && r->pr.has_base) {
            cJSON_AddNumberToObject(x, "kld", r->pr.kld);
            cJSON_AddNumberToObject(x, "kld_err", r->pr.kld_err);
            cJSON_AddNumberToObject(x, "kld_p99", r->pr.kld_p[PPL_PCT_99]);
            cJSON_AddNumberToObject(x, "kld_median", r->pr.kld_p[PPL_PCT_50]);
            cJSON_AddNumberToObject(x, "same_top_pct", 100 * r->pr.same_top);
            cJSON_AddNumberToObject(x, "same_top_pct_err", 100 * r->pr.same_top_err);
            cJSON_AddNumberToObject(x, "rms_dp_pct", 100 * r->pr.rms_dp);
            cJSON_AddNumberToObject(x, "ppl_ratio", r->pr.ppl_ratio);
            cJSON_AddNumberToObject(x, "ppl_ratio_err", r->pr.ppl_ratio_err);
        }
        if (r->pp_ts > 0) {
            cJSON_AddNumberToObject(x, "pp_ts", r->pp_ts);
            cJSON_AddNumberToObject(x, "pp_sd", r->pp_sd);
        }
        if (r->tg_ts > 0) {
            cJSON_AddNumberToObject(x, "tg_ts", r->tg_ts);
            cJSON_AddNumberToObject(x, "tg_sd", r->tg_sd);
        }
        cJSON_AddItemToArray(a, x);
    }
    char *s = cJSON_Print(j);
    puts(s);
    free(s);
    cJSON_Delete(j);
}

/* One scatter panel at (x0, y0), w x h px of plot area: a point per row with the
 * type's name. x: log10 of the mean KLD (or bits per weight, linear, with use_bpw);
 * y: size in GiB (what = 0) or tg tokens/s (what = 1), from 0. */
static void svg_panel(FILE *f, const q_row *rows, int n, int x0, int y0, int w, int h, int use_bpw, int what,
                      const char *title, const char *ylabel) {
    double xmin = 1e300, xmax = -1e300, ymax = 0;
    int pts = 0;
    for (int i = 0; i < n; i++) {
        const q_row *r = &rows[i];
        double y = what ? r->tg_ts : r->bytes / 1073741824.0;
        int ok = r->fits && (use_bpw || (r->has_ppl && r->pr.has_base && r->pr.kld > 0)) && y > 0;
        if (!ok) continue;
        double x = use_bpw ? bpw(r) : log10(r->pr.kld);
        xmin = x < xmin ? x : xmin;
        xmax = x > xmax ? x : xmax;
        ymax = y > ymax ? y : ymax;
        pts++;
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", x0, y0 - 12, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", x0, y0, w, h);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 %d %d)\" text-anchor=\"middle\">%s</text>\n",
            x0 - 44, y0 + h / 2, x0 - 44, y0 + h / 2, ylabel);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x0 + w / 2, y0 + h + 34,
            use_bpw ? "bits per weight" : "mean KL divergence from the base (nats, log scale; lower is better)");
    if (!pts) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\" text-anchor=\"middle\">no rows to draw</text>\n", x0 + w / 2,
                y0 + h / 2);
        return;
    }
    /* x range: whole decades for log KLD, whole bits for bpw, with a margin */
    if (use_bpw) {
        xmin = floor(xmin - 0.5);
        xmax = ceil(xmax + 0.5);
    } else {
        xmin = floor(xmin);
        xmax = ceil(xmax);
        if (xmax - xmin < 1) xmax = xmin + 1;
    }
    /* y grid: a step of 1, 2 or 5 x 10^k giving 3 to 6 lines above 0, room above the top point */
    double step = pow(10, floor(log10(ymax * 1.1 / 4)));
    step *= ymax * 1.1 / step > 20 ? 5 : ymax * 1.1 / step > 8 ? 2 : 1;
    int n_y = (int)ceil(ymax * 1.1 / step);
    double ytop = n_y * step;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (int k = 0; k <= n_y; k++) {
        int py = y0 + h - (int)(h * k / (double)n_y);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", x0, py, x0 + w, py);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.*f</text>\n", x0 - 4, py + 4,
                dec, k * step);
    }
    int steps = (int)(xmax - xmin);
    for (int k = 0; k <= steps; k++) { /* x grid: decades or bits */
        double v = xmin + k;
        int px = x0 + (int)(w * k / (double)steps);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", px, y0, px, y0 + h);
        if (use_bpw) fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", px,
                             y0 + h + 16, v);
        else fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", px, y0 + h + 16,
                     pow(10, v));
    }
    for (int i = 0; i < n; i++) {
        const q_row *r = &rows[i];
        double y = what ? r->tg_ts : r->bytes / 1073741824.0;
        if (!(r->fits && (use_bpw || (r->has_ppl && r->pr.has_base && r->pr.kld > 0)) && y > 0)) continue;
        double x = use_bpw ? bpw(r) : log10(r->pr.kld);
        int px = x0 + (int)(w * (x - xmin) / (xmax - xmin)), py = y0 + h - (int)(h * y / ytop);
        fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"%s\"/>", px, py, what ? "#f28e2b" : "#4e79a7");
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", px + 7, py - 6);
        svg_text(f, r->type, 12);
        fprintf(f, "</text>\n");
    }
}

static int write_svg(const q_opts *o, const q_row *rows, int n) {
    FILE *f = fopen(o->svg, "w");
    if (!f) return -1;
    const int W = 960, H = 420, pw = 360, ph = 260, top = 96;
    int use_bpw = o->shape != NULL;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">cllama quality: ");
    svg_text(f, o->name, 60);
    fprintf(f, "</text>\n<text x=\"10\" y=\"44\" fill=\"#555\" font-size=\"11\">");
    char sub[256];
    if (use_bpw) snprintf(sub, sizeof sub, "synthetic model (random weights): size and speed only; %d threads, ",
                          o->n_threads);
    else snprintf(sub, sizeof sub, "each type quantized from the base, measured on %s; %d threads, ", o->text,
                  o->n_threads);
    svg_text(f, sub, 0);
    svg_text(f, o->cpu, 60);
    fprintf(f, "</text>\n");
    const q_row *base = NULL;
    for (int i = 0; i < n; i++)
        if (rows[i].is_base) base = &rows[i];
    if (base && !use_bpw) {
        fprintf(f, "<text x=\"10\" y=\"60\" fill=\"#555\" font-size=\"11\">base (KL divergence 0, not drawn): ");
        char b[160];
        snprintf(b, sizeof b, "%s, %.3f GiB, PPL %.3f, tg %.1f t/s", base->type, base->bytes / 1073741824.0,
                 base->has_ppl ? base->pr.ppl : 0.0, base->tg_ts);
        svg_text(f, b, 0);
        fprintf(f, "</text>\n");
    }
    svg_panel(f, rows, n, 80, top, pw, ph, use_bpw, 0, "size", "size (GiB)");
    svg_panel(f, rows, n, 80 + pw + 110, top, pw, ph, use_bpw, 1, "generation speed", "tg tokens/s (higher is better)");
    fprintf(f, "</svg>\n");
    return fclose(f) ? -1 : 0;
}

/* ---- the runs ------------------------------------------------------------------------- */

/* A type list ("Q8_0,Q4_0") into o->types, each checked against the quantizer's. */
static int parse_types(const char *cmd, const char *list, q_opts *o) {
    o->n_types = 0;
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!len || len >= sizeof o->types[0])
            return usage_error(cmd, "--types: '%.*s' is not a file type (one of: %s)", (int)len, s,
                               cllama_quantize_types());
        if (!cli_quantize_type_known(s, len))
            return usage_error(cmd, "--types: unknown type '%.*s' (one of: %s)", (int)len, s, cllama_quantize_types());
        if (o->n_types == MAX_TYPES) return usage_error(cmd, "--types: at most %d types", MAX_TYPES);
        snprintf(o->types[o->n_types++], sizeof o->types[0], "%.*s", (int)len, s);
        s += len + (e ? 1 : 0);
        if (e && !*s) return usage_error(cmd, "--types: a comma at the end");
    }
    return o->n_types ? 0 : usage_error(cmd, "--types: no type given");
}

/* 1 if every matrix of the model is F32, F16 or BF16 ("F32", "F16", "BF16" file types). */
static int is_float_file(const char *file_type) {
    return !strcmp(file_type, "F32") || !strcmp(file_type, "F16") || !strcmp(file_type, "BF16");
}

static int run_shape(const q_opts *o, q_row *rows, int *n_rows) {
    cllama_shape shape;
    if (cllama_shape_find(o->shape, &shape)) return runtime_error("quality", "%s", cllama_last_error());
    cllama_host host;
    cllama_host_info(&host);
    for (int i = 0; i < o->n_types; i++) {
        q_row *r = &rows[(*n_rows)++];
        memset(r, 0, sizeof *r);
        str_copy(r->type, sizeof r->type, o->types[i]);
        cllama_synth_size(&shape, r->type, &r->n_params, &r->bytes);
        /* built in memory, then interleaved at load: up to twice the weights (as bench) */
        if (2 * r->bytes > host.mem_avail) {
            snprintf(r->reason, sizeof r->reason, "needs %.1f GiB, %.1f GiB available", 2 * r->bytes / 1073741824.0,
                     host.mem_avail / 1073741824.0);
            fprintf(stderr, "quality: %s: N/A (%s)\n", r->type, r->reason);
            continue;
        }
        uint8_t *img = NULL;
        size_t size = 0;
        double t0 = now_s();
        if (cllama_synth_build(&shape, r->type, o->n_threads, 42, &img, &size))
            return runtime_error("quality", "%s: %s", r->type, cllama_last_error());
        r->quant_s = now_s() - t0;
        cllama_model_params mp = cli_model_params();
        cllama_model *m = NULL;
        if (cllama_model_load_buffer(img, size, &mp, &m)) {
            cllama_synth_free(img, size);
            return runtime_error("quality", "%s: %s", r->type, cllama_last_error());
        }
        describe(m, r);
        r->fits = 1;
        int rc = measure_speed(o, m, r);
        cllama_model_free(m);
        cllama_synth_free(img, size);
        if (rc) return rc;
        report_row(o, r);
    }
    return 0;
}

/* Scores m on the text (against base when given, storing its log-probs in *store when
 * asked) and times it. 0 or a runtime error already reported. */
static int measure(const q_opts *o, cllama_model *m, const int32_t *ids, int n_ids, const ppl_base *base,
                   ppl_base **store, q_row *r) {
    describe(m, r);
    r->fits = 1;
    if (ppl_run(m, ids, n_ids, &o->pp, base, store, &r->pr, NULL))
        return runtime_error("quality", "%s: %s", r->type, ppl_last_error());
    r->has_ppl = 1;
    return measure_speed(o, m, r);
}

static int run_file(q_opts *o, q_row *rows, int *n_rows) {
    const char *cmd = "quality";
    int rc = EXIT_RUNTIME;
    char *text = NULL;
    size_t text_len = 0;
    int32_t *ids = NULL;
    int n_ids = 0;
    cllama_model *m = NULL;
    void *base_img = NULL;
    size_t base_size = 0;
    ppl_base *base = NULL;
    if (!(text = read_file(o->text, &text_len))) {
        runtime_error(cmd, "cannot read the text %s: %s", o->text, strerror(errno));
        goto done;
    }
    cllama_model_params mp = cli_model_params();
    if (cllama_model_load(o->model, &mp, &m)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    cllama_model_desc d;
    cllama_model_describe(m, &d);
    const char *slash = strrchr(o->model, '/');
    str_copy(o->name, sizeof o->name, d.name[0] ? d.name : slash ? slash + 1 : o->model);
    if (tokenize_all(m, text, text_len, ppl_model_adds_bos(m) ? CLLAMA_TOKENIZE_ADD_BOS : 0, &ids, &n_ids)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    o->n_tokens = n_ids;
    if (n_ids < 2 * o->pp.n_ctx) {
        runtime_error(cmd, "you need at least %d tokens to evaluate perplexity with a context of %d; %s tokenizes to "
                      "only %d", 2 * o->pp.n_ctx, o->pp.n_ctx, o->text, n_ids);
        goto done;
    }
    cli_check_ctx(cmd, m, o->pp.n_ctx);

    /* The base row: the file itself when its matrices are floats, else dequantized. */
    q_row *b = &rows[(*n_rows)++];
    memset(b, 0, sizeof *b);
    b->is_base = 1;
    if (is_float_file(d.file_type)) {
        str_copy(b->type, sizeof b->type, d.file_type);
    } else {
        str_copy(o->base_from, sizeof o->base_from, d.file_type);
        str_copy(b->type, sizeof b->type, o->base_type);
        cllama_model_free(m);
        m = NULL;
        cllama_quantize_params qp = cllama_quantize_default_params();
        qp.type = o->base_type;
        qp.n_threads = o->n_threads;
        qp.allow_requantize = 1;
        double t0 = now_s();
        if (cllama_quantize_buffer(o->model, NULL, 0, &qp, &base_img, &base_size, NULL) ||
            cllama_model_load_buffer(base_img, base_size, &mp, &m)) {
            runtime_error(cmd, "dequantizing the base to %s: %s", o->base_type, cllama_last_error());
            goto done;
        }
        b->quant_s = now_s() - t0;
        fprintf(stderr, "quality: base: %s dequantized to %s in %.1f s\n", d.file_type, o->base_type, b->quant_s);
    }
    fprintf(stderr, "quality: %s, %d tokens of %s, chunks of %d\n", o->name, n_ids, o->text, o->pp.n_ctx);
    if (measure(o, m, ids, n_ids, NULL, &base, b)) goto done;
    report_row(o, b);
    cllama_model_free(m);
    m = NULL;

    for (int i = 0; i < o->n_types; i++) {
        q_row *r = &rows[(*n_rows)++];
        memset(r, 0, sizeof *r);
        str_copy(r->type, sizeof r->type, o->types[i]);
        cllama_quantize_params qp = cllama_quantize_default_params();
        qp.type = r->type;
        qp.n_threads = o->n_threads;
        void *img = NULL;
        size_t size = 0;
        double t0 = now_s();
        /* from the base image when there is one (the dequantized base), else the file */
        int err = cllama_quantize_buffer(base_img ? NULL : o->model, base_img, base_size, &qp, &img, &size, NULL);
        r->quant_s = now_s() - t0;
        if (err || cllama_model_load_buffer(img, size, &mp, &m)) {
            runtime_error(cmd, "%s: %s", r->type, cllama_last_error());
            if (img) cllama_quantize_free(img, size);
            goto done;
        }
        err = measure(o, m, NULL, 0, base, NULL, r);
        cllama_model_free(m);
        m = NULL;
        if (!err && o->save_dir) err = save_image(o, r->type, img, size);
        cllama_quantize_free(img, size);
        if (err) goto done;
        report_row(o, r);
    }
    rc = 0;
done:
    free(text);
    free(ids);
    ppl_base_free(base);
    cllama_model_free(m);
    if (base_img) cllama_quantize_free(base_img, base_size);
    return rc;
}

int cmd_quality(int argc, char **argv) {
    const char *cmd = "quality", *v, *types = DEFAULT_TYPES;
    q_opts o;
    memset(&o, 0, sizeof o);
    o.pp = ppl_default_params();
    o.n_prompt = 512;
    o.n_gen = 128;
    o.reps = 3;
    o.base_type = "F32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            bad = !(o.model = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "--shape")) {
            bad = !(o.shape = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            bad = !(o.text = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "--types")) {
            bad = !(types = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "--base-type")) {
            if (!(o.base_type = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            if (!is_float_file(o.base_type))
                return usage_error(cmd, "--base-type expects F32, F16 or BF16, got '%s'", o.base_type);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, PPL_MIN_CTX, 1 << 20, &o.pp.n_ctx);
        } else if (!strcmp(a, "--chunks")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1 << 24, &o.pp.n_chunks);
        } else if (!strcmp(a, "-p")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 0, 1 << 16, &o.n_prompt);
        } else if (!strcmp(a, "-n")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 0, 1 << 16, &o.n_gen);
        } else if (!strcmp(a, "-r")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, BENCH_MAX_SAMPLES, &o.reps);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &o.n_threads);
        } else if (!strcmp(a, "-o")) {
            if (!(o.fmt = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            if (strcmp(o.fmt, "md") && strcmp(o.fmt, "csv") && strcmp(o.fmt, "json"))
                return usage_error(cmd, "-o expects md, csv or json, got '%s'", o.fmt);
        } else if (!strcmp(a, "--svg")) {
            bad = !(o.svg = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "--save")) {
            bad = !(o.save_dir = arg_value(cmd, argc, argv, &i));
        } else {
            return usage_error(cmd, "unknown option '%s'", a);
        }
        if (bad) return EXIT_USAGE;
    }
    if (!o.model == !o.shape) return usage_error(cmd, "give a model (-m FILE) or a shape (--shape NAME), one of them");
    if (o.model && !o.text) return usage_error(cmd, "no text given (-f FILE): perplexity and KL divergence need one");
    if (o.shape && o.text) return usage_error(cmd, "-f with --shape: a synthetic model has no meaningful perplexity");
    if (o.shape && o.save_dir) return usage_error(cmd, "--save with --shape: 'cllama synth' writes synthetic models");
    if (parse_types(cmd, types, &o)) return EXIT_USAGE;
    if (!o.n_threads) o.n_threads = cllama_default_threads();
    o.pp.n_threads = o.n_threads;
    cli_check_threads(cmd, o.n_threads);

    /* what can fail cheaply fails before minutes of work */
    struct stat st;
    if (o.save_dir) {
        if (stat(o.save_dir, &st)) return runtime_error(cmd, "--save %s: %s", o.save_dir, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return runtime_error(cmd, "--save %s: not a directory", o.save_dir);
        if (access(o.save_dir, W_OK)) return runtime_error(cmd, "--save %s: %s", o.save_dir, strerror(errno));
    }
    int svg_created = 0;
    if (o.svg && cli_check_writable(o.svg, &svg_created))
        return runtime_error(cmd, "cannot write %s: %s", o.svg, strerror(errno));
    if (o.shape) str_copy(o.name, sizeof o.name, o.shape);
    cllama_host host;
    cllama_host_info(&host);
    str_copy(o.cpu, sizeof o.cpu, host.cpu);

    int cap = o.n_types + 1, n = 0;
    q_row *rows = calloc((size_t)cap, sizeof *rows);
    if (!rows) return runtime_error(cmd, "out of memory");
    int rc = o.shape ? run_shape(&o, rows, &n) : run_file(&o, rows, &n);
    if (!rc) {
        if (!o.fmt || !strcmp(o.fmt, "md")) print_md(&o, rows, n);
        else if (!strcmp(o.fmt, "csv")) print_csv(&o, rows, n);
        else print_json(&o, rows, n);
        if (o.svg && write_svg(&o, rows, n)) rc = runtime_error(cmd, "cannot write %s: %s", o.svg, strerror(errno));
    }
    if (rc && svg_created) remove(o.svg);
    free(rows);
    return rc;
}
