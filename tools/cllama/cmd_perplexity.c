/* cllama perplexity: llama-perplexity's perplexity and KL-divergence modes (see ppl.h
 * for the method and the base file). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "ppl.h"
#include "prompt.h"

static const char *HELP =
    "usage: cllama perplexity -m MODEL -f TEXT [-c N] [-b N] [--chunks N] [-t N]\n"
    "                         [--kl-divergence-base FILE [--kl-divergence]] [-o md|json]\n"
    "Perplexity of MODEL on a text by llama-perplexity's method: the text is tokenized once\n"
    "(BOS first if the vocabulary adds one) and cut into chunks of N tokens; each chunk is\n"
    "evaluated from an empty cache, its first token replaced by BOS where the vocabulary adds\n"
    "one, and only its second half is scored. Prints the running estimate per chunk and\n"
    "'Final estimate: PPL = x +/- err'.\n"
    "  -m, --model FILE     the model (GGUF)\n"
    "  -f, --file FILE      the text ('-': standard input); needs at least 2 x N tokens\n"
    "  -c, --ctx-size N     tokens per chunk (default 512, at least 16)\n"
    "  -b, --batch-size N   tokens per forward pass (default 2048; capped at -c)\n"
    "  --chunks N           score at most N chunks (default: all)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  --kl-divergence-base FILE  without --kl-divergence: also store MODEL's log-probabilities\n"
    "                       of the scored positions in FILE (about 2 bytes x vocabulary per\n"
    "                       position) for a later comparison\n"
    "  --kl-divergence      compare MODEL with the base stored in --kl-divergence-base FILE:\n"
    "                       KL divergence, same top token, delta p and both PPLs, over the same\n"
    "                       positions (-f may then be left out: the base holds the tokens; if\n"
    "                       given, the text must be the base's). Also reads llama-perplexity's\n"
    "                       --kl-divergence-base files.\n"
    "  -o md|json           a Markdown table or a JSON object of the results on stdout, the\n"
    "                       per-chunk progress then on stderr (default: llama-perplexity's text)\n";

/* The final figures in llama-perplexity's words. */
static void print_text(FILE *f, const ppl_result *r) {
    if (!r->has_base) {
        fprintf(f, "Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_err);
        return;
    }
    fprintf(f, "\n====== Perplexity statistics ======\n");
    fprintf(f, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", r->ppl, r->ppl_err);
    fprintf(f, "Mean PPL(base)                : %10.6f ± %10.6f\n", r->ppl_base, r->ppl_base_err);
    fprintf(f, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * r->cor);
    fprintf(f, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r->ln_ratio, r->ln_ratio_err);
    fprintf(f, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r->ppl_ratio, r->ppl_ratio_err);
    fprintf(f, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", r->ppl_diff, r->ppl_diff_err);
    fprintf(f, "\n====== KL divergence statistics ======\n");
    fprintf(f, "Mean    KLD: %10.6f ± %10.6f\n", r->kld, r->kld_err);
    fprintf(f, "Maximum KLD: %10.6f\n", r->kld_max);
    for (int k = 0; k < PPL_N_PCT; k++) {
        double lv = ppl_pct_levels[k];
        if (lv == 75 || lv == 25) continue; /* llama-perplexity prints these for dp only */
        if (lv == 50) fprintf(f, "Median  KLD: %10.6f\n", r->kld_p[k]);
        else fprintf(f, "%4.1f%%   KLD: %10.6f\n", lv, r->kld_p[k]);
    }
    fprintf(f, "Minimum KLD: %10.6f\n", r->kld_min);
    fprintf(f, "\n====== Token probability statistics ======\n");
    fprintf(f, "Mean    Δp: %6.3f ± %5.3f %%\n", 100 * r->dp, 100 * r->dp_err);
    fprintf(f, "Maximum Δp: %6.3f%%\n", 100 * r->dp_max);
    for (int k = 0; k < PPL_N_PCT; k++) {
        double lv = ppl_pct_levels[k];
        if (lv == 50) fprintf(f, "Median  Δp: %6.3f%%\n", 100 * r->dp_p[k]);
        else fprintf(f, "%4.1f%%   Δp: %6.3f%%\n", lv, 100 * r->dp_p[k]);
    }
    fprintf(f, "Minimum Δp: %6.3f%%\n", 100 * r->dp_min);
    fprintf(f, "RMS Δp    : %6.3f ± %5.3f %%\n", 100 * r->rms_dp, 100 * r->rms_dp_err);
    fprintf(f, "Same top p: %6.3f ± %5.3f %%\n", 100 * r->same_top, 100 * r->same_top_err);
}

static void print_md(const char *model, const ppl_result *r) {
    printf("| model | n_ctx | chunks | scored | PPL | tokens/s |\n|---|--:|--:|--:|--:|--:|\n");
    printf("| %s | %d | %d | %d | %.4f ± %.5f | %.1f |\n", model, r->n_ctx, r->n_chunks, r->n_scored, r->ppl,
           r->ppl_err, r->tokens_per_s);
    if (!r->has_base) return;
    printf("\n| statistic | value |\n|---|--:|\n");
    printf("| PPL(base) | %.6f ± %.6f |\n", r->ppl_base, r->ppl_base_err);
    printf("| ln(PPL(Q)/PPL(base)) | %.6f ± %.6f |\n", r->ln_ratio, r->ln_ratio_err);
    printf("| PPL(Q)/PPL(base) | %.6f ± %.6f |\n", r->ppl_ratio, r->ppl_ratio_err);
    printf("| Cor(ln PPL(Q), ln PPL(base)) | %.2f %% |\n", 100 * r->cor);
    printf("| mean KLD | %.6f ± %.6f |\n", r->kld, r->kld_err);
    printf("| max KLD | %.6f |\n", r->kld_max);
    for (int k = 0; k < PPL_N_PCT; k++) printf("| %g %% KLD | %.6f |\n", ppl_pct_levels[k], r->kld_p[k]);
    printf("| min KLD | %.6f |\n", r->kld_min);
    printf("| same top p | %.3f ± %.3f %% |\n", 100 * r->same_top, 100 * r->same_top_err);
    printf("| mean Δp | %.3f ± %.3f %% |\n", 100 * r->dp, 100 * r->dp_err);
    printf("| RMS Δp | %.3f ± %.3f %% |\n", 100 * r->rms_dp, 100 * r->rms_dp_err);
    printf("| max Δp | %.3f %% |\n", 100 * r->dp_max);
    for (int k = 0; k < PPL_N_PCT; k++) printf("| %g %% Δp | %.3f %% |\n", ppl_pct_levels[k], 100 * r->dp_p[k]);
    printf("| min Δp | %.3f %% |\n", 100 * r->dp_min);
}

/* Percentile arrays as {"99.9": v, ...}. */
static cJSON *pct_json(const double *v, double mul) {
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < PPL_N_PCT; k++) {
        char key[16];
        snprintf(key, sizeof key, "%g", ppl_pct_levels[k]);
        cJSON_AddNumberToObject(o, key, v[k] * mul);
    }
    return o;
}

static void print_json(const char *model, const char *text, const ppl_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    if (text) cJSON_AddStringToObject(o, "text", text);
    cJSON_AddNumberToObject(o, "n_ctx", r->n_ctx);
    cJSON_AddNumberToObject(o, "chunks", r->n_chunks);
    cJSON_AddNumberToObject(o, "scored", r->n_scored);
    cJSON_AddNumberToObject(o, "ppl", r->ppl);
    cJSON_AddNumberToObject(o, "ppl_err", r->ppl_err);
    cJSON_AddNumberToObject(o, "nll", r->nll);
    cJSON_AddNumberToObject(o, "nll_err", r->nll_err);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
    if (r->has_base) {
        cJSON *k = cJSON_AddObjectToObject(o, "kl_divergence");
        cJSON_AddNumberToObject(k, "ppl_base", r->ppl_base);
        cJSON_AddNumberToObject(k, "ppl_base_err", r->ppl_base_err);
        cJSON_AddNumberToObject(k, "cor", r->cor);
        cJSON_AddNumberToObject(k, "ln_ratio", r->ln_ratio);
        cJSON_AddNumberToObject(k, "ln_ratio_err", r->ln_ratio_err);
        cJSON_AddNumberToObject(k, "ppl_ratio", r->ppl_ratio);
        cJSON_AddNumberToObject(k, "ppl_ratio_err", r->ppl_ratio_err);
        cJSON_AddNumberToObject(k, "ppl_diff", r->ppl_diff);
        cJSON_AddNumberToObject(k, "ppl_diff_err", r->ppl_diff_err);
        cJSON_AddNumberToObject(k, "kld", r->kld);
        cJSON_AddNumberToObject(k, "kld_err", r->kld_err);
        cJSON_AddNumberToObject(k, "kld_max", r->kld_max);
        cJSON_AddNumberToObject(k, "kld_min", r->kld_min);
        cJSON_AddItemToObject(k, "kld_percentiles", pct_json(r->kld_p, 1));
        cJSON_AddNumberToObject(k, "same_top_pct", 100 * r->same_top);
        cJSON_AddNumberToObject(k, "same_top_pct_err", 100 * r->same_top_err);
        cJSON_AddNumberToObject(k, "dp_mean_pct", 100 * r->dp);
        cJSON_AddNumberToObject(k, "dp_mean_pct_err", 100 * r->dp_err);
        cJSON_AddNumberToObject(k, "rms_dp_pct", 100 * r->rms_dp);
        cJSON_AddNumberToObject(k, "rms_dp_pct_err", 100 * r->rms_dp_err);
        cJSON_AddNumberToObject(k, "dp_max_pct", 100 * r->dp_max);
        cJSON_AddNumberToObject(k, "dp_min_pct", 100 * r->dp_min);
        cJSON_AddItemToObject(k, "dp_percentiles_pct", pct_json(r->dp_p, 100));
    }
    char *s = cJSON_Print(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

int cmd_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity", *model = NULL, *text_path = NULL, *base_path = NULL, *fmt = NULL, *v;
    ppl_params pp = ppl_default_params();
    int kld_mode = 0, ctx_given = 0, n_base_tokens = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "--kl-divergence")) {
            kld_mode = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            bad = !(model = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            bad = !(text_path = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "--kl-divergence-base")) {
            bad = !(base_path = arg_value(cmd, argc, argv, &i));
        } else if (!strcmp(a, "-o")) {
            if (!(fmt = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            if (strcmp(fmt, "md") && strcmp(fmt, "json")) return usage_error(cmd, "-o expects md or json, got '%s'", fmt);
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1 << 22, &pp.n_ctx);
            ctx_given = 1;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1 << 22, &pp.n_batch);
        } else if (!strcmp(a, "--chunks")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1 << 24, &pp.n_chunks);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &pp.n_threads);
        } else {
            return usage_error(cmd, "unknown option '%s'", a);
        }
        if (bad) return EXIT_USAGE;
    }
    if (!model) return usage_error(cmd, "no model given (-m)");
    if (kld_mode && !base_path) return usage_error(cmd, "--kl-divergence needs --kl-divergence-base FILE to compare with");
    if (!kld_mode && !text_path) return usage_error(cmd, "no text given (-f FILE)");
    /* A one-line runtime error, as llama-perplexity refuses it (exit 1), not a usage one. */
    if (ctx_given && pp.n_ctx < PPL_MIN_CTX)
        return runtime_error(cmd, "-c %d is too small: perplexity needs chunks of at least %d tokens", pp.n_ctx,
                             PPL_MIN_CTX);
    cli_check_threads(cmd, pp.n_threads);

    /* Everything that can be checked cheaply comes before loading the model. */
    int rc = EXIT_RUNTIME, created = 0;
    char *text = NULL;
    size_t text_len = 0;
    int32_t *ids = NULL;
    int n_ids = 0;
    cllama_model *m = NULL;
    ppl_base *base = NULL, *stored = NULL;
    FILE *prog = fmt ? stderr : stdout;
    if (text_path && !(text = read_file(text_path, &text_len))) {
        runtime_error(cmd, "cannot read the text %s: %s", text_path, strerror(errno));
        goto done;
    }
    if (kld_mode) {
        if (ppl_base_read(base_path, &base)) {
            runtime_error(cmd, "%s", ppl_last_error());
            goto done;
        }
        int b_ctx;
        ppl_base_info(base, NULL, &b_ctx, NULL);
        if (ctx_given && pp.n_ctx != b_ctx) {
            runtime_error(cmd, "%s was made with -c %d, not %d", base_path, b_ctx, pp.n_ctx);
            goto done;
        }
        if (!ctx_given) pp.n_ctx = b_ctx;
    } else if (base_path && cli_check_writable(base_path, &created)) {
        runtime_error(cmd, "cannot write %s: %s", base_path, strerror(errno));
        goto done;
    }
    cllama_model_params mp = cli_model_params();
    if (cli_model_load(cmd, model, &mp, &m)) goto done;
    if (base) {
        int b_chunks;
        ppl_base_info(base, NULL, NULL, &b_chunks);
        n_base_tokens = b_chunks * pp.n_ctx;
        if (ppl_base_check_vocab(base, m)) {
            runtime_error(cmd, "%s: %s", base_path, ppl_last_error());
            goto done;
        }
    }
    cli_check_ctx(cmd, m, pp.n_ctx);
    if (text) {
        int flags = ppl_model_adds_bos(m) ? CLLAMA_TOKENIZE_ADD_BOS : 0;
        if (tokenize_all(m, text, text_len, flags, &ids, &n_ids)) {
            runtime_error(cmd, "%s", cllama_last_error());
            goto done;
        }
        if (n_ids < 2 * pp.n_ctx) {
            runtime_error(cmd, "you need at least %d tokens to evaluate perplexity with a context of %d; %s tokenizes "
                          "to only %d",
                          2 * pp.n_ctx, pp.n_ctx, text_path, n_ids);
            goto done;
        }
    }
    if (!fmt)
        fprintf(stderr, "perplexity: %s, %d tokens, chunks of %d (the second half scored)%s\n", model,
                n_ids ? n_ids : n_base_tokens, pp.n_ctx, kld_mode ? ", against the stored base" : "");
    ppl_result r;
    if (ppl_run(m, ids, n_ids, &pp, base, kld_mode || !base_path ? NULL : &stored, &r, prog)) {
        runtime_error(cmd, "%s", ppl_last_error());
        goto done;
    }
    if (stored && ppl_base_write(stored, base_path)) {
        runtime_error(cmd, "%s", ppl_last_error());
        created = 0; /* ppl_base_write removed it */
        goto done;
    }
    if (!fmt) print_text(stdout, &r);
    else if (!strcmp(fmt, "md")) print_md(model, &r);
    else print_json(model, text_path, &r);
    fprintf(stderr, "perplexity: %d chunks x %d tokens (%d scored) in %.2f s: %.1f tokens/s%s%s\n", r.n_chunks,
            r.n_ctx, r.n_scored, r.seconds, r.tokens_per_s, stored ? "; base written to " : "",
            stored ? base_path : "");
    rc = 0;
done:
    if (rc && created) remove(base_path);
    free(text);
    free(ids);
    ppl_base_free(base);
    ppl_base_free(stored);
    cllama_model_free(m);
    return rc;
}
