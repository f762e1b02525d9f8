#include "cllama_toolkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "error.h"
#include "quant/quant.h"

/* data/devices.tsv, embedded at build time. */
extern const char cl_devices_tsv[];

/* Splits a TSV line in place into at most max fields. */
static int split_tabs(char *line, char **f, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

static double num(const char *s) { return strcmp(s, "-") ? atof(s) : 0; }

static int parse_device(char *line, cllama_device *d) {
    char *f[20];
    int n = split_tabs(line, f, 20);
    if (n < 15) return -1;
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", f[0]);
    snprintf(d->label, sizeof d->label, "%s", f[1]);
    snprintf(d->kind, sizeof d->kind, "%s", f[2]);
    d->bw_gbs = num(f[3]);
    for (char *save = NULL, *t = strtok_r(f[4], ",", &save); t && d->n_mem < 8; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "-")) d->mem_gb[d->n_mem++] = atof(t);
    d->cores = (int)num(f[5]);
    d->fp16_tflops = num(f[6]);
    d->fp32_tflops = num(f[7]);
    for (int i = 0; i < 6; i++) d->reported[i / 2][i % 2] = num(f[8 + i]);
    snprintf(d->source, sizeof d->source, "%s", f[14]);
    snprintf(d->notes, sizeof d->notes, "%s", n > 15 ? f[15] : "");
    return d->bw_gbs > 0 ? 0 : -1;
}

/* Visits data lines until fn returns non-zero. */
static int each_device(int (*fn)(const cllama_device *, void *), void *arg) {
    const char *p = cl_devices_tsv;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[2048];
        if (len && *p != '#' && len < sizeof line) {
            memcpy(line, p, len);
            line[len] = 0;
            cllama_device d;
            if (!parse_device(line, &d) && fn(&d, arg)) return 1;
        }
        p += len + (e ? 1 : 0);
    }
    return 0;
}

typedef struct {
    int want, seen;
    const char *name;
    cllama_device *out;
} find_arg;

static int find_fn(const cllama_device *d, void *arg) {
    find_arg *f = arg;
    int hit = f->name ? !strcmp(d->name, f->name) : f->seen == f->want;
    f->seen++;
    if (hit && f->out) *f->out = *d;
    return hit;
}

int cllama_device_count(void) {
    find_arg f = {-1, 0, NULL, NULL};
    each_device(find_fn, &f);
    return f.seen;
}

int cllama_device_at(int i, cllama_device *out) {
    find_arg f = {i, 0, NULL, out};
    return each_device(find_fn, &f) ? 0 : CLLAMA_E_INVALID;
}

int cllama_device_find(const char *name, cllama_device *out) {
    find_arg f = {0, 0, name, out};
    if (each_device(find_fn, &f)) return 0;
    char list[2048] = "";
    cllama_device d;
    for (int i = 0; !cllama_device_at(i, &d); i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, d.name, sizeof list - strlen(list) - 1);
    }
    return cl_err(CLLAMA_E_INVALID, "unknown device '%s' (known: host, %s)", name, list);
}

extern const char cl_reported_tsv[];

int cllama_reported(const cllama_device *d, const char *shape, const char *quant, double *pp, double *tg) {
    *pp = *tg = 0;
    static const char *l2q[3] = {"F16", "Q8_0", "Q4_0"};
    if (!strcmp(shape, "llama2-7b"))
        for (int i = 0; i < 3; i++)
            if (!strcmp(quant, l2q[i])) {
                *pp = d->reported[i][0];
                *tg = d->reported[i][1];
            }
    const char *p = cl_reported_tsv;
    while (*p && !*pp && !*tg) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024], *f[10];
        if (len && *p != '#' && len < sizeof line) {
            memcpy(line, p, len);
            line[len] = 0;
            if (split_tabs(line, f, 10) >= 7 && !strcmp(f[0], d->name) && !strcmp(f[1], shape) && !strcmp(f[2], quant)) {
                *pp = num(f[4]);
                *tg = num(f[6]);
            }
        }
        p += len + (e ? 1 : 0);
    }
    return *pp > 0 || *tg > 0;
}

double cllama_device_usable_bytes(const cllama_device *d, double gb) {
    double bytes = gb * 1e9;
    if (!strcmp(d->kind, "apple")) return bytes * (gb <= 36 ? 2.0 / 3.0 : 3.0 / 4.0);
    return bytes;
}

void cllama_cost_model(const cllama_hparams *hp, uint64_t n_params, uint64_t weight_bytes, int n_ctx, int depth,
                   cllama_cost *out) {
    double kv_pos = 2.0 * (double)hp->n_head_kv * hp->head_dim * sizeof(cl_f16); /* one position of one layer */
    /* Positions a new token attends to, summed over the layers: a windowed layer reads
     * at most its window (the cache still holds every position: kv_bytes). */
    double seen = 0;
    for (int l = 0; l < hp->n_layer; l++) seen += cl_layer_swa(hp, l) && depth > hp->n_swa ? hp->n_swa : depth;
    out->bytes_per_token = (double)weight_bytes + kv_pos * seen;
    out->flops_per_token = 2.0 * (double)n_params + 4.0 * seen * hp->n_head * hp->head_dim;
    out->kv_bytes = kv_pos * hp->n_layer * n_ctx;
    /* The context as the engine allocates it: KV cache, activations of a 512-token
     * micro-batch, attention scratch and the logits (cllama_context_bytes). */
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    out->mem_needed = (double)weight_bytes + (double)cllama_context_bytes(hp, &cp);
}

/* ---- pipelines ---- */

/* Line rates; latencies typical of one MPI message over the link (TCP over Ethernet
 * and Thunderbolt networking; verbs over InfiniBand). Assumptions, not measurements:
 * "GBPS,LATENCY_US" gives a measured link instead. */
static const cllama_link LINKS[] = {
    {"1gbe", "1 Gb Ethernet", 0.125, 50},
    {"10gbe", "10 Gb Ethernet", 1.25, 20},
    {"100gbe", "100 Gb Ethernet", 12.5, 10},
    {"tb4", "Thunderbolt 4 networking (about 20 Gb/s of IP)", 2.5, 30},
    {"ib-hdr", "InfiniBand HDR (200 Gb/s)", 25, 1.5},
};
#define N_LINKS (int)(sizeof LINKS / sizeof *LINKS)

const char *cllama_link_names(void) { return "1gbe 10gbe 100gbe tb4 ib-hdr (or GBPS,LATENCY_US)"; }

int cllama_link_find(const char *spec, cllama_link *out) {
    for (int i = 0; i < N_LINKS; i++)
        if (!strcmp(LINKS[i].name, spec)) {
            *out = LINKS[i];
            return 0;
        }
    double gbs, lat;
    char tail;
    if (sscanf(spec, "%lf,%lf%c", &gbs, &lat, &tail) == 2 && gbs > 0 && gbs < 1e6 && lat >= 0 && lat < 1e7) {
        memset(out, 0, sizeof *out);
        snprintf(out->name, sizeof out->name, "custom");
        snprintf(out->label, sizeof out->label, "%g GB/s, %g us", gbs, lat);
        out->gbs = gbs;
        out->latency_us = lat;
        return 0;
    }
    return cl_err(CLLAMA_E_INVALID, "unknown link '%s' (known: %s)", spec, cllama_link_names());
}

/* What comes back to the first device per generated token in cllama's pipeline: the
 * status header (256 B), the token (4 B) and the sampler's random state (32 B). */
#define PIPE_TOKEN_BACK_BYTES 292.0

void cllama_pipeline_predict(const cllama_cost *c, const cllama_hparams *hp, uint64_t n_params, uint64_t weight_bytes,
                             double bw_gbs, double peak_flops, int nodes, const cllama_link *l, int n_prompt,
                             int n_ubatch, cllama_pipeline_pred *out) {
    memset(out, 0, sizeof *out);
    int N = nodes < 1 ? 1 : nodes;
    out->nodes = N;
    double bytes_per_param = n_params ? (double)weight_bytes / (double)n_params : 0;
    double end_part = (double)hp->n_vocab * hp->n_embd * bytes_per_param; /* embedding or head */
    double layers = (double)weight_bytes - (hp->tied_output ? 1 : 2) * end_part;
    out->mem_per_node = N == 1 ? c->mem_needed
                               : (layers + c->kv_bytes) / N + end_part + (c->mem_needed - weight_bytes - c->kv_bytes);
    double lat = l ? l->latency_us * 1e-6 : 0, Bps = l ? l->gbs * 1e9 : 1e300;
    out->hop_s = lat + hp->n_embd * 4.0 / Bps;
    out->back_s = lat + PIPE_TOKEN_BACK_BYTES / Bps;
    double t_compute = c->bytes_per_token / (bw_gbs * 1e9);
    double t_link = N > 1 ? (N - 1) * out->hop_s + out->back_s : 0;
    out->tg = 1.0 / (t_compute + t_link);
    out->link_share = t_link / (t_compute + t_link);
    if (peak_flops > 0 && n_prompt > 0) {
        int U = n_ubatch > 0 ? n_ubatch : 64, M = (n_prompt + U - 1) / U;
        double stage = (double)U * c->flops_per_token / N / peak_flops;
        double hop = N > 1 ? lat + (double)U * hp->n_embd * 4.0 / Bps : 0;
        double t = N == 1 ? n_prompt * c->flops_per_token / peak_flops
                          : (M + N - 1) * (stage > hop ? stage : hop) + out->back_s;
        out->pp = n_prompt / t;
    }
}
