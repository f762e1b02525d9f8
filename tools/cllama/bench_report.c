/* Output of cllama bench: llama-bench-like markdown, CSV, JSON (every sample), the
 * per-model summary table, and an SVG bar chart. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

void bench_test_name(const bench_row *r, char *buf, size_t n) {
    if (r->n_prompt && r->n_gen) snprintf(buf, n, "pp%d+tg%d", r->n_prompt, r->n_gen);
    else if (r->n_prompt) snprintf(buf, n, "pp%d", r->n_prompt);
    else snprintf(buf, n, "tg%d", r->n_gen);
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

static void gib(char *buf, size_t n, uint64_t b) { snprintf(buf, n, "%.2f GiB", b / 1073741824.0); }

static void params_str(char *buf, size_t n, uint64_t p) {
    if (p >= 1000000000ull) snprintf(buf, n, "%.2f B", p / 1e9);
    else snprintf(buf, n, "%.2f M", p / 1e6);
}

void bench_print_md(FILE *f, const bench_row *rows, int n) {
    fprintf(f, "| model | size | params | type | threads | test | t/s |\n");
    fprintf(f, "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char size[32], params[32], test[48], ts[200];
        gib(size, sizeof size, r->size);
        params_str(params, sizeof params, r->params);
        bench_test_name(r, test, sizeof test);
        if (r->fits) snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        else snprintf(ts, sizeof ts, "N/A (%s)", r->reason);
        fprintf(f, "| %s | %s | %s | %s | %d | %s | %s |\n", r->model, size, params, r->quant, r->threads, test, ts);
    }
}

static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void bench_print_csv(FILE *f, const bench_row *rows, int n) {
    fprintf(f, "model,quant,size,params,threads,n_prompt,n_gen,test,avg_ts,stddev_ts,mem_needed,fits,reason\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char test[48];
        bench_test_name(r, test, sizeof test);
        csv_str(f, r->model);
        fprintf(f, ",%s,%llu,%llu,%d,%d,%d,%s,%.6f,%.6f,%llu,%d,", r->quant, (unsigned long long)r->size,
                (unsigned long long)r->params, r->threads, r->n_prompt, r->n_gen, test, r->avg_ts, r->stddev_ts,
                (unsigned long long)r->mem_needed, r->fits);
        csv_str(f, r->reason);
        fputc('\n', f);
    }
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

void bench_print_json(FILE *f, const bench_row *rows, int n, int lines) {
    if (!lines) fprintf(f, "[\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char test[48];
        bench_test_name(r, test, sizeof test);
        fprintf(f, "%s{\"model\": ", lines ? "" : "  ");
        json_str(f, r->model);
        fprintf(f, ", \"quant\": \"%s\", \"path\": ", r->quant);
        json_str(f, r->path);
        fprintf(f,
                ", \"size\": %llu, \"params\": %llu, \"threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, "
                "\"test\": \"%s\", \"fits\": %s, \"mem_needed\": %llu, \"mem_available\": %llu, \"reason\": ",
                (unsigned long long)r->size, (unsigned long long)r->params, r->threads, r->n_prompt, r->n_gen, test,
                r->fits ? "true" : "false", (unsigned long long)r->mem_needed, (unsigned long long)r->mem_avail);
        json_str(f, r->reason);
        fprintf(f, ", \"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ns\": [", r->avg_ts, r->stddev_ts);
        for (int k = 0; k < r->n_samples; k++) fprintf(f, "%s%.0f", k ? ", " : "", r->samples_ns[k]);
        fprintf(f, "], \"samples_ts\": [");
        for (int k = 0; k < r->n_samples; k++)
            fprintf(f, "%s%.6f", k ? ", " : "", (r->n_prompt + r->n_gen) / (r->samples_ns[k] * 1e-9));
        fprintf(f, "]}%s\n", lines ? "" : (i + 1 < n ? "," : ""));
    }
    if (!lines) fprintf(f, "]\n");
}

/* Rows of one model and quantization are consecutive; the summary takes the first pp
 * and the first tg test of each group. */
static int same_model(const bench_row *a, const bench_row *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->quant, b->quant) && !strcmp(a->path, b->path) &&
           a->threads == b->threads;
}

typedef struct {
    const bench_row *first, *pp, *tg;
} summary_line;

static int summarize(const bench_row *rows, int n, summary_line *out) {
    int k = 0;
    for (int i = 0; i < n;) {
        summary_line s = {&rows[i], NULL, NULL};
        int j = i;
        for (; j < n && same_model(&rows[i], &rows[j]); j++) {
            if (rows[j].n_prompt && !rows[j].n_gen && !s.pp) s.pp = &rows[j];
            if (rows[j].n_gen && !rows[j].n_prompt && !s.tg) s.tg = &rows[j];
        }
        out[k++] = s;
        i = j;
    }
    return k;
}

static void cell(char *buf, size_t n, const bench_row *r) {
    if (!r) snprintf(buf, n, "-");
    else if (!r->fits) snprintf(buf, n, "N/A");
    else snprintf(buf, n, "%.2f", r->avg_ts);
}

void bench_print_summary(FILE *f, const bench_row *rows, int n) {
    summary_line s[n > 0 ? n : 1];
    int k = summarize(rows, n, s);
    char pp_name[32] = "", tg_name[32] = "";
    for (int i = 0; i < k; i++) {
        if (s[i].pp && !*pp_name) bench_test_name(s[i].pp, pp_name, sizeof pp_name);
        if (s[i].tg && !*tg_name) bench_test_name(s[i].tg, tg_name, sizeof tg_name);
    }
    fprintf(f, "| Model | Quantization | Processing Speed (t/s, %s) | Generation Speed (t/s, %s) | Memory needed |\n",
            *pp_name ? pp_name : "pp", *tg_name ? tg_name : "tg");
    fprintf(f, "|---|---|---|---|---|\n");
    for (int i = 0; i < k; i++) {
        char pp[32], tg[32], mem[200];
        cell(pp, sizeof pp, s[i].pp);
        cell(tg, sizeof tg, s[i].tg);
        gib(mem, sizeof mem, s[i].first->mem_needed);
        if (!s[i].first->fits) {
            size_t l = strlen(mem);
            snprintf(mem + l, sizeof mem - l, " (does not fit: %s)", s[i].first->reason);
        }
        fprintf(f, "| %s | %s | %s | %s | %s |\n", s[i].first->model, s[i].first->quant, pp, tg, mem);
    }
}

/* Two panels side by side (prompt processing, generation), one horizontal bar per
 * model, each panel scaled to its own maximum since pp is often 10x tg. */
int bench_write_svg(const char *path, const bench_row *rows, int n) {
    summary_line s[n > 0 ? n : 1];
    int k = summarize(rows, n, s);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int label_w = 260, panel_w = 330, bar_h = 22, gap = 12, top = 60;
    int height = top + k * (bar_h + gap) + 40, width = label_w + 2 * panel_w + 40;
    double max_pp = 0, max_tg = 0;
    for (int i = 0; i < k; i++) {
        if (s[i].pp && s[i].pp->fits && s[i].pp->avg_ts > max_pp) max_pp = s[i].pp->avg_ts;
        if (s[i].tg && s[i].tg->fits && s[i].tg->avg_ts > max_tg) max_tg = s[i].tg->avg_ts;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">cllama bench: tokens per second "
               "(higher is better)</text>\n");
    const char *titles[2] = {"Prompt processing", "Generation"};
    const char *colors[2] = {"#4e79a7", "#f28e2b"};
    for (int p = 0; p < 2; p++)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", label_w + p * panel_w, top - 12, titles[p]);
    for (int i = 0; i < k; i++) {
        int y = top + i * (bar_h + gap);
        fprintf(f, "<text x=\"10\" y=\"%d\">", y + bar_h - 6);
        for (const char *c = s[i].first->model; *c; c++) {
            if (*c == '<') fputs("&lt;", f);
            else if (*c == '&') fputs("&amp;", f);
            else fputc(*c, f);
        }
        fprintf(f, " %s</text>\n", s[i].first->quant);
        const bench_row *r2[2] = {s[i].pp, s[i].tg};
        double mx[2] = {max_pp, max_tg};
        for (int p = 0; p < 2; p++) {
            int x = label_w + p * panel_w;
            if (!r2[p] || !r2[p]->fits || mx[p] <= 0) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">N/A</text>\n", x, y + bar_h - 6);
                continue;
            }
            int w = (int)((panel_w - 90) * r2[p]->avg_ts / mx[p]);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", x, y, w > 1 ? w : 1, bar_h,
                    colors[p]);
            fprintf(f, "<text x=\"%d\" y=\"%d\">%.2f</text>\n", x + w + 6, y + bar_h - 6, r2[p]->avg_ts);
        }
    }
    fprintf(f, "</svg>\n");
    return fclose(f) ? -1 : 0;
}
