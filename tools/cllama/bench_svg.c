/* cllama bench --svg: one horizontal bar per result row, grouped under a header line
 * per model, quantization and thread count, each bar labelled with its test name
 * ("pp512", "tg128 @ d512") and its value. Prompt processing runs ~10x faster than
 * generation, so bars are scaled per kind of test (pp, tg, pp+tg), each kind in its own
 * colour. Model names sit on their own header line, so a long name cannot run into a bar. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "svg.h"

enum { KIND_PP, KIND_TG, KIND_PG, N_KIND };

static int kind_of(const bench_row *r) { return r->n_prompt && r->n_gen ? KIND_PG : r->n_prompt ? KIND_PP : KIND_TG; }

static int same_group(const bench_row *a, const bench_row *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->quant, b->quant) && !strcmp(a->path, b->path) &&
           a->threads == b->threads;
}

int bench_write_svg(const char *path, const bench_row *rows, int n) {
    /* px; text is 13 px sans-serif, about 7 px per character */
    const int W = 960, label_x = 28, bar_x = 190, bar_max = 560, row_h = 20, head_h = 26, top = 74;
    static const char *kind_name[N_KIND] = {"prompt processing (pp)", "generation (tg)", "prompt + generation (pp+tg)"};
    static const char *color[N_KIND] = {"#4e79a7", "#f28e2b", "#59a14f"};
    double max[N_KIND] = {0};
    int groups = 0, used[N_KIND] = {0};
    for (int i = 0; i < n; i++) {
        int k = kind_of(&rows[i]);
        used[k] = 1;
        if (rows[i].fits && rows[i].avg_ts > max[k]) max[k] = rows[i].avg_ts;
        groups += i == 0 || !same_group(&rows[i - 1], &rows[i]);
    }
    int H = top + groups * head_h + n * row_h + 30;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">cllama bench: tokens per second "
               "(higher is better)</text>\n");
    int lx = 10;
    for (int k = 0; k < N_KIND; k++) {
        if (!used[k]) continue;
        fprintf(f, "<rect x=\"%d\" y=\"38\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"49\">%s</text>\n",
                lx, color[k], lx + 16, kind_name[k]);
        lx += 16 + 7 * (int)strlen(kind_name[k]) + 24;
    }
    fprintf(f, "<text x=\"10\" y=\"66\" fill=\"#555\" font-size=\"11\">bars of one colour share a scale</text>\n");
    int y = top;
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        if (i == 0 || !same_group(&rows[i - 1], r)) {
            y += head_h;
            fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">", y - 8);
            /* the name is cut, never the quantization and thread count after it */
            char tail[96];
            snprintf(tail, sizeof tail, " \xc2\xb7 %s \xc2\xb7 %d thread%s", r->quant, r->threads,
                     r->threads == 1 ? "" : "s");
            svg_text(f, r->model, (W - 20) * 2 / 17 - (int)strlen(tail)); /* bold: ~8.5 px a character */
            svg_text(f, tail, 1000);
            fprintf(f, "</text>\n");
        }
        char test[48];
        bench_test_name(r, test, sizeof test);
        int k = kind_of(r);
        fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", label_x, y + row_h - 6, test);
        if (!r->fits || max[k] <= 0) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">N/A (", bar_x, y + row_h - 6);
            svg_text(f, r->reason, (W - bar_x - 20) / 7 - 8);
            fprintf(f, ")</text>\n");
        } else {
            int w = (int)(bar_max * r->avg_ts / max[k] + 0.5);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", bar_x, y + 3,
                    w > 1 ? w : 1, row_h - 6, color[k]);
            fprintf(f, "<text x=\"%d\" y=\"%d\">%.2f", bar_x + (w > 1 ? w : 1) + 6, y + row_h - 6, r->avg_ts);
            if (r->n_samples > 1) fprintf(f, " \xc2\xb1 %.2f", r->stddev_ts); /* no spread from one sample */
            fprintf(f, " t/s</text>\n");
        }
        y += row_h;
    }
    fprintf(f, "</svg>\n");
    return fclose(f) ? -1 : 0;
}
