/* Text generation: prompt prefill in one batch, then one token at a time, streamed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "gen.h"
#include "prompt.h"

static const char *HELP =
    "usage: cllama run -m MODEL (-p TEXT | -f FILE | --ids 1,2,3) [options]\n"
    "Generates text after the prompt and streams it to stdout; timings go to stderr.\n"
    "  -n, --n-predict N    tokens to generate (default 256; -1: until end of generation or full context)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  -c, --ctx-size, --ctx N  context length in tokens (default: training context, at most 4096)\n"
    "  --temp T             temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K            keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P            keep the smallest set with probability mass P (default 0.95; 1 = off)\n"
    "  --min-p P            drop tokens below P x the top probability (default 0.05; 0 = off)\n"
    "  --repeat-penalty R   penalise the last --repeat-last-n tokens (default 1.0 = off)\n"
    "  --repeat-last-n N    window of the penalty (default 64)\n"
    "  --seed S             random seed (default: from the clock; printed with the timings)\n"
    "  --no-bos             do not add BOS to a text prompt\n"
    "  --special            match control tokens such as <|eot_id|> in the prompt text\n"
    "  -e, --escape         process escapes (\\n, \\t, \\\\, \\', \\\") in the -p text\n"
    "  -f FILE              read the prompt from FILE; '-' reads standard input\n"
    "  -r, --reverse-prompt S  stop when the output contains S (not printed; repeatable)\n"
    "  --no-display-prompt  print only the generated text, not the prompt before it\n"
    "  --ignore-eos         keep generating after end-of-generation tokens\n"
    "For a conversation with a chat model's template, use `cllama chat`.\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MAX_STOPS 16

int cmd_run(int argc, char **argv) {
    const char *cmd = "run", *v;
    prompt_opts po = {0};
    cllama_sampler_params sp = cllama_sampler_default_params();
    int n_gen = 256, threads = 0, n_ctx = 0, ignore_eos = 0, seed_given = 0, display_prompt = 1, n_stops = 0;
    const char *stops[MAX_STOPS];
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
        if (!strcmp(a, "--no-display-prompt")) {
            display_prompt = 0;
            continue;
        }
        int bad = 0;
        if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, -1, 1 << 24, &n_gen);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            bad = !(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &threads);
        else if (!strcmp(a, "-r") || !strcmp(a, "--reverse-prompt") || !strcmp(a, "--stop")) {
            if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            if (!*v) return usage_error(cmd, "%s needs a non-empty string", a);
            if (n_stops == MAX_STOPS) return usage_error(cmd, "at most %d stop strings", MAX_STOPS);
            stops[n_stops++] = v;
        } else if (!strcmp(a, "--ctx") || !strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
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
    cli_check_threads(cmd, threads);
    if (!seed_given) sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);

    double t_load0 = now_s();
    cllama_model *m = NULL;
    cllama_context *ctx = NULL;
    cllama_sampler *smp = NULL;
    int32_t *ids = NULL;
    int n = 0, rc = EXIT_RUNTIME;
    cllama_model_params mp = cli_model_params();
    if (cli_model_load(cmd, po.model, &mp, &m)) goto done;
    if ((rc = prompt_tokens(cmd, m, &po, &ids, &n))) goto done;
    rc = EXIT_RUNTIME;
    if (n == 0) {
        runtime_error(cmd, "the prompt has no tokens");
        goto done;
    }
    cli_check_ctx(cmd, m, n_ctx);
    cllama_context_params cp = cli_context_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = cli_threads(threads);
    if (cllama_context_init(m, &cp, &ctx) ||
        cllama_sampler_init(&sp, cllama_model_n_vocab(m), &smp)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    int ctx_len = cllama_context_n_ctx(ctx);
    if (n >= ctx_len) {
        runtime_error(cmd, "the prompt is %d token%s and the context holds %d: no room to generate (use --ctx %d or more)",
                      n, n == 1 ? "" : "s", ctx_len, n + (n_gen > 0 ? n_gen : 1));
        goto done;
    }
    double t_load = now_s() - t_load0;
    for (int i = 0; i < n; i++) cllama_sampler_accept(smp, ids[i]);
    cllama_set_sampler(ctx, 0, smp); /* tokens are picked where the logits are (the last MPI rank) */

    double t0 = now_s();
    if (decode_tokens(ctx, ids, n)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    double t_prompt = now_s() - t0;
    if (!po.ids && display_prompt) {
        /* Echo the prompt as the model sees it, minus BOS. */
        cllama_detok pd;
        cllama_detok_init(&pd, m, 0);
        char out[1024];
        for (int i = 0; i < n; i++) {
            int k = i > 0 || ids[i] != cllama_token_bos(m) ? cllama_detok_push(&pd, ids[i], out, (int)sizeof out) : 0;
            if (k > 0) fwrite(out, 1, (size_t)k, stdout);
        }
        int k = cllama_detok_flush(&pd, out, (int)sizeof out);
        if (k > 0) fwrite(out, 1, (size_t)k, stdout);
        fflush(stdout);
    }
    gen_opts go = {.n_predict = n_gen, .stops = stops, .n_stops = n_stops, .ignore_eos = ignore_eos, .out = stdout};
    gen_result gr;
    if (gen_reply(ctx, m, smp, &go, &gr)) {
        fputc('\n', stdout);
        runtime_error(cmd, "%s", cllama_last_error());
        gen_result_free(&gr);
        goto done;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (gr.n_gen == 0 && !strcmp(gr.stop, "end of generation token") && cllama_model_chat_template(m))
        fprintf(stderr, "cllama run: the model ended its turn at once: it is a chat model; `cllama chat -m %s` "
                        "talks to it through its template\n", po.model);
    fprintf(stderr, "\nload:    %8.1f ms\n", t_load * 1e3);
    fprintf(stderr, "prompt:  %5d tokens in %8.1f ms = %8.2f tokens/s\n", n, t_prompt * 1e3, n / t_prompt);
    fprintf(stderr, "gen:     %5d tokens in %8.1f ms = %8.2f tokens/s (stop: %s)\n", gr.n_gen, gr.seconds * 1e3,
            gr.n_gen > 0 ? gr.n_gen / gr.seconds : 0.0, gr.stop);
    fprintf(stderr, "seed:    %llu, threads %d, context %d\n", (unsigned long long)sp.seed,
            cllama_context_n_threads(ctx), ctx_len);
    gen_result_free(&gr);
    rc = 0;
done:
    free(ids);
    cllama_sampler_free(smp);
    cllama_context_free(ctx);
    cllama_model_free(m);
    return rc;
}
