/* Text generation: prompt prefill in one batch, then one token at a time, streamed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "prompt.h"

static const char *HELP =
    "usage: cllama run -m MODEL (-p TEXT | -f FILE | --ids 1,2,3) [options]\n"
    "Generates text after the prompt and streams it to stdout; timings go to stderr.\n"
    "  -n N                 tokens to generate (default 256; -1: until end of generation or full context)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  --ctx N              context length in tokens (default: training context, at most 4096)\n"
    "  --temp T             temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K            keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P            keep the smallest set with probability mass P (default 0.95; 1 = off)\n"
    "  --min-p P            drop tokens below P x the top probability (default 0.05; 0 = off)\n"
    "  --repeat-penalty R   penalise the last --repeat-last-n tokens (default 1.0 = off)\n"
    "  --repeat-last-n N    window of the penalty (default 64)\n"
    "  --seed S             random seed (default: from the clock; printed with the timings)\n"
    "  --no-bos             do not add BOS to a text prompt\n"
    "  --special            match control tokens such as <|eot_id|> in the prompt text\n"
    "  --ignore-eos         keep generating after end-of-generation tokens\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes a token's text through the streaming detokenizer: no half character shown. */
static void emit(cllama_detok *d, int32_t id) {
    char out[1024];
    int w = cllama_detok_push(d, id, out, (int)sizeof out);
    if (w <= 0) return;
    fwrite(out, 1, (size_t)w, stdout);
    fflush(stdout);
}

static void emit_flush(cllama_detok *d) {
    char tail[8];
    int w = cllama_detok_flush(d, tail, (int)sizeof tail);
    if (w > 0) fwrite(tail, 1, (size_t)w, stdout);
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run", *v;
    prompt_opts po = {0};
    cllama_sampler_params sp = cllama_sampler_default_params();
    int n_gen = 256, threads = 0, n_ctx = 0, ignore_eos = 0, seed_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = prompt_opt(cmd, argc, argv, &i, &po);
        if (rc == 0) continue;
        if (rc > 1) return rc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = 1;
            continue;
        }
        int bad = 0;
        if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, -1, 1 << 24, &n_gen);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &threads);
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1 << 22, &n_ctx);
        else if (!strcmp(a, "--temp"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_float(cmd, a, v, 0, 100, &sp.temperature);
        else if (!strcmp(a, "--top-k"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 0, 1 << 24, &sp.top_k);
        else if (!strcmp(a, "--top-p"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_float(cmd, a, v, 0, 1, &sp.top_p);
        else if (!strcmp(a, "--min-p"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_float(cmd, a, v, 0, 1, &sp.min_p);
        else if (!strcmp(a, "--repeat-penalty"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_float(cmd, a, v, 0.01f, 100, &sp.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 0, 1 << 20, &sp.repeat_last_n);
        else if (!strcmp(a, "--seed")) {
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_u64(cmd, a, v, &sp.seed);
            seed_given = 1;
        } else
            return usage_error(cmd, "unknown option '%s'", a);
        if (bad) return EXIT_USAGE;
    }
    if (!po.model) return usage_error(cmd, "no model given (-m)");
    if (prompt_check(cmd, &po)) return EXIT_USAGE;
    if (!seed_given) sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);

    double t_load0 = now_s();
    cllama_model *m = NULL;
    cllama_context *ctx = NULL;
    cllama_sampler *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int n = 0, rc = EXIT_RUNTIME;
    cllama_model_params mp = cli_model_params();
    if (cllama_model_load(po.model, &mp, &m)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    if ((rc = prompt_tokens(cmd, m, &po, &ids, &n))) goto done;
    rc = EXIT_RUNTIME;
    if (n == 0) {
        runtime_error(cmd, "the prompt has no tokens");
        goto done;
    }
    cllama_context_params cp = cllama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = threads;
    if (cllama_context_init(m, &cp, &ctx) ||
        cllama_sampler_init(&sp, cllama_model_n_vocab(m), &smp)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    int ctx_len = cllama_context_n_ctx(ctx);
    if (n >= ctx_len) {
        runtime_error(cmd, "prompt of %d tokens does not fit in the context of %d (use --ctx)", n, ctx_len);
        goto done;
    }
    double t_load = now_s() - t_load0;
    int V = cllama_model_n_vocab(m);
    logits = malloc((size_t)V * sizeof *logits);
    if (!logits) {
        runtime_error(cmd, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) cllama_sampler_accept(smp, ids[i]);

    double t0 = now_s();
    if (cllama_context_eval(ctx, ids, n, logits, 0)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    double t_prompt = now_s() - t0;
    if (!po.ids) {
        /* Echo the prompt as the model sees it, minus BOS. */
        cllama_detok pd;
        cllama_detok_init(&pd, m, 0);
        for (int i = 0; i < n; i++)
            if (ids[i] != cllama_token_bos(m) || i > 0) emit(&pd, ids[i]);
        emit_flush(&pd);
    }
    cllama_detok us;
    cllama_detok_init(&us, m, 0);
    int n_done = 0;
    const char *stop = "length";
    t0 = now_s();
    while (n_gen < 0 || n_done < n_gen) {
        int32_t id = cllama_sampler_sample(smp, logits);
        if (!ignore_eos && cllama_token_is_eog(m, id)) {
            stop = "end of generation token";
            break;
        }
        emit(&us, id);
        cllama_sampler_accept(smp, id);
        n_done++;
        if (cllama_context_n_past(ctx) >= ctx_len) {
            stop = "context full";
            break;
        }
        if ((n_gen < 0 || n_done < n_gen) && cllama_context_eval(ctx, &id, 1, logits, 0)) {
            fputc('\n', stdout);
            runtime_error(cmd, "%s", cllama_last_error());
            goto done;
        }
    }
    double t_gen = now_s() - t0;
    emit_flush(&us);
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr, "\nload:    %8.1f ms\n", t_load * 1e3);
    fprintf(stderr, "prompt:  %5d tokens in %8.1f ms = %8.2f tokens/s\n", n, t_prompt * 1e3, n / t_prompt);
    fprintf(stderr, "gen:     %5d tokens in %8.1f ms = %8.2f tokens/s (stop: %s)\n", n_done, t_gen * 1e3,
            n_done > 0 ? n_done / t_gen : 0.0, stop);
    fprintf(stderr, "seed:    %llu, threads %d, context %d\n", (unsigned long long)sp.seed,
            cllama_context_n_threads(ctx), ctx_len);
    rc = 0;
done:
    free(ids);
    free(logits);
    cllama_sampler_free(smp);
    cllama_context_free(ctx);
    cllama_model_free(m);
    return rc;
}
