/* cllama chat: a conversation with a chat model through its own template.
 *
 * Each turn renders the whole conversation (cllama_chat_apply), tokenizes it with
 * control tokens matched, and evaluates only what the KV cache does not already hold:
 * the longest prefix shared with the tokens in the cache is kept, the rest dropped
 * and evaluated (a turn's new tokens, plus any re-tokenized end of the last reply).
 * When the conversation outgrows the context the oldest turns go (the system prompt
 * stays), with a notice. Interactive on a terminal (libedit: line editing, history);
 * with -p or a pipe on stdin it answers once and prints only the answer. */
#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "chat_prompt.h"
#include "gen.h"

static const char *HELP =
    "usage: cllama chat -m MODEL [options]\n"
    "A conversation with a chat model, through the model's own chat template.\n"
    "Interactive on a terminal: type a message, Enter sends it. /clear forgets the\n"
    "conversation, /system TEXT sets the system prompt, /bye (or Ctrl-D, or Ctrl-C at an\n"
    "empty prompt) exits; Ctrl-C during a reply stops it. With -p, or text on a pipe, it\n"
    "answers once and prints only the answer.\n"
    "  -p, --prompt TEXT    the user's message (answer once)\n"
    "  -sys, --system-prompt TEXT  system prompt (default: none, or the template's own)\n"
    "  --chat-template NAME|FILE   a built-in template (chatml llama2 llama3 mistral zephyr\n"
    "                       phi3 gemma) or a Jinja file, instead of the model's\n"
    "  -n, --n-predict N    tokens per reply at most (default -1: until the model stops)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  -c, --ctx-size, --ctx N  context length in tokens (default: training context, at most 4096)\n"
    "  --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R, --repeat-last-n N, --seed S\n"
    "                       sampling, as for `cllama run` (--temp 0: greedy)\n"
    "  --stop, -r, --reverse-prompt S  end a reply at S (not printed; repeatable)\n"
    "  --verbose            per turn: prompt tokens (new and reused from the cache), speed, why it stopped\n";

#define MAX_STOPS 16

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}
static int abort_cb(void *data) {
    (void)data;
    return interrupted;
}

typedef struct {
    cllama_chat_message *m;
    int n, cap;
} conversation;

static int conv_add(conversation *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        cllama_chat_message *m = realloc(c->m, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->m = m;
        c->cap = cap;
    }
    char *r = strdup(role), *t = strdup(content);
    if (!r || !t) {
        free(r);
        free(t);
        return -1;
    }
    c->m[c->n++] = (cllama_chat_message){r, t};
    return 0;
}

static void conv_drop(conversation *c, int i) {
    free((char *)c->m[i].role);
    free((char *)c->m[i].content);
    memmove(c->m + i, c->m + i + 1, (size_t)(c->n - i - 1) * sizeof *c->m);
    c->n--;
}

typedef struct {
    const char *cmd;
    cllama_model *model;
    cllama_context *ctx;
    cllama_sampler *smp;
    cllama_chat_params cp;
    conversation conv;
    int32_t *cache;  /* tokens in the KV cache (sequence 0), in order */
    int n_cache, cap_cache;
    gen_opts go;
    int verbose, interactive;
} chat;

static int cache_append(chat *c, const int32_t *ids, int n) {
    if (c->n_cache + n > c->cap_cache) {
        int cap = (c->n_cache + n) * 2 + 64;
        int32_t *p = realloc(c->cache, (size_t)cap * sizeof *p);
        if (!p) return -1;
        c->cache = p;
        c->cap_cache = cap;
    }
    memcpy(c->cache + c->n_cache, ids, (size_t)n * sizeof *ids);
    c->n_cache += n;
    return 0;
}

/* One turn: the user's message in, the reply out. 0, or -1 when the turn was
 * refused or failed (the message is not kept); fatal errors are reported by the caller. */
static int turn(chat *c, const char *user) {
    if (conv_add(&c->conv, "user", user)) return runtime_error(c->cmd, "out of memory"), -1;
    int n_ctx = cllama_context_n_ctx(c->ctx), room = c->go.n_predict > 0 ? c->go.n_predict : 1;
    if (room > n_ctx / 2) room = n_ctx / 2;
    int32_t *ids = NULL;
    int n = 0, dropped = 0;
    for (;;) {
        if (chat_tokens(c->model, c->conv.m, c->conv.n, &c->cp, &ids, &n)) {
            fprintf(stderr, "cllama %s: %s\n", c->cmd, cllama_last_error());
            conv_drop(&c->conv, c->conv.n - 1);
            return -1;
        }
        if (n + room <= n_ctx) break;
        /* drop the oldest turn after the system prompt: a message, and its reply */
        int first = c->conv.n > 0 && !strcmp(c->conv.m[0].role, "system") ? 1 : 0;
        if (c->conv.n - first <= 1) {
            fprintf(stderr, "cllama %s: the message needs %d tokens and the context holds %d (use --ctx)\n", c->cmd, n + room,
                    n_ctx);
            free(ids);
            conv_drop(&c->conv, c->conv.n - 1);
            return -1;
        }
        conv_drop(&c->conv, first);
        if (c->conv.n - first > 1 && strcmp(c->conv.m[first].role, "user")) conv_drop(&c->conv, first);
        dropped++;
        free(ids);
    }
    if (dropped)
        fprintf(stderr, "[context full: the %d oldest message%s dropped, the system prompt kept]\n", dropped,
                dropped > 1 ? "s were" : " was");
    int common = 0;
    while (common < n && common < c->n_cache && c->cache[common] == ids[common]) common++;
    if (common == n) common--; /* the last token is evaluated again for its logits */
    cllama_kv_seq_rm(c->ctx, 0, common, -1);
    c->n_cache = common;
    /* the history before the evaluation: the prompt's last one samples the first token
     * (cllama_set_sampler) */
    for (int i = 0; i < n; i++) cllama_sampler_accept(c->smp, ids[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = decode_tokens(c->ctx, ids + common, n - common);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        if (interrupted) fprintf(stderr, "\n[interrupted]\n");
        else fprintf(stderr, "cllama %s: %s\n", c->cmd, cllama_last_error());
        free(ids);
        conv_drop(&c->conv, c->conv.n - 1);
        return -1;
    }
    cache_append(c, ids + common, n - common);
    double tp = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (c->verbose)
        fprintf(stderr, "[prompt: %d tokens, %d evaluated, %d reused from the cache, %.1f tokens/s]\n", n, n - common,
                common, (n - common) / (tp > 0 ? tp : 1e-9));
    free(ids);
    gen_result r;
    rc = gen_reply(c->ctx, c->model, c->smp, &c->go, &r);
    fputc('\n', stdout);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "cllama %s: %s\n", c->cmd, cllama_last_error());
        gen_result_free(&r);
        conv_drop(&c->conv, c->conv.n - 1);
        return -1;
    }
    cache_append(c, r.ids, r.n_ids);
    if (!strcmp(r.stop, "interrupted")) fprintf(stderr, "[interrupted]\n");
    else if (!strcmp(r.stop, "context full")) fprintf(stderr, "[context full: the reply was cut]\n");
    if (c->verbose)
        fprintf(stderr, "[reply: %d tokens, %.2f tokens/s, stop: %s]\n", r.n_gen, r.n_gen / (r.seconds > 0 ? r.seconds : 1e-9),
                r.stop);
    int fail = conv_add(&c->conv, "assistant", r.text ? r.text : "");
    gen_result_free(&r);
    return fail ? -1 : 0;
}

static void clear_conversation(chat *c) {
    int keep = c->conv.n > 0 && !strcmp(c->conv.m[0].role, "system") ? 1 : 0;
    while (c->conv.n > keep) conv_drop(&c->conv, c->conv.n - 1);
}

static void set_system(chat *c, const char *text) {
    if (c->conv.n > 0 && !strcmp(c->conv.m[0].role, "system")) conv_drop(&c->conv, 0);
    if (!*text || conv_add(&c->conv, "system", text)) return;
    cllama_chat_message sys = c->conv.m[c->conv.n - 1]; /* appended: move it to the front */
    memmove(c->conv.m + 1, c->conv.m, (size_t)(c->conv.n - 1) * sizeof *c->conv.m);
    c->conv.m[0] = sys;
}

/* Characters read since the prompt appeared; libedit reads through this, so that
 * Ctrl-C (SIGINT, which interrupts the read) ends readline() instead of being retried. */
static int typed;
static int chat_getc(FILE *f) {
    unsigned char ch;
    for (;;) {
        if (interrupted) return EOF; /* Ctrl-C came before the read began */
        ssize_t r = read(fileno(f), &ch, 1);
        if (r == 1) {
            typed++;
            return ch;
        }
        if (r < 0 && errno == EINTR && !interrupted) continue;
        return EOF;
    }
}

static void interactive_loop(chat *c) {
    const char *family = cllama_chat_template_family(c->cp.tmpl ? c->cp.tmpl : cllama_model_chat_template(c->model));
    fprintf(stderr, "cllama chat: %s template. /clear, /system TEXT, /bye; Ctrl-C stops a reply, Ctrl-D exits.\n",
            family);
    rl_catch_signals = 0;
    rl_getc_function = chat_getc;
    for (;;) {
        interrupted = 0;
        typed = 0;
        char *line = readline("> ");
        if (!line && interrupted && typed > 0) { /* Ctrl-C with text typed: a fresh prompt */
            fputc('\n', stderr);
            continue;
        }
        if (!line) { /* Ctrl-D, or Ctrl-C at an empty prompt */
            fputc('\n', stderr);
            break;
        }
        interrupted = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) {
            free(line);
            continue;
        }
        add_history(s);
        if (!strcmp(s, "/bye") || !strcmp(s, "/exit") || !strcmp(s, "/quit")) {
            free(line);
            break;
        }
        if (!strcmp(s, "/clear")) {
            clear_conversation(c);
            fprintf(stderr, "[conversation cleared]\n");
        } else if (!strncmp(s, "/system", 7) && (s[7] == ' ' || !s[7])) {
            set_system(c, s[7] ? s + 8 : "");
            fprintf(stderr, "[system prompt %s]\n", s[7] && s[8] ? "set" : "removed");
        } else if (s[0] == '/' && s[1] != '/') {
            fprintf(stderr, "[unknown command %s: /clear, /system TEXT, /bye; start a message with // to send a slash]\n", s);
        } else {
            turn(c, s[0] == '/' ? s + 1 : s);
        }
        free(line);
    }
}

int cmd_chat(int argc, char **argv) {
    const char *cmd = "chat", *v, *model_path = NULL, *prompt = NULL, *system = NULL, *tmpl_arg = NULL;
    const char *stops[MAX_STOPS];
    int n_stops = 0, n_predict = -1, threads = 0, n_ctx = 0, verbose = 0, seed_given = 0;
    cllama_sampler_params sp = cllama_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        int bad = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "-sys") || !strcmp(a, "--system-prompt")) system = v;
        else if (!strcmp(a, "--chat-template")) tmpl_arg = v;
        else if (!strcmp(a, "--stop") || !strcmp(a, "-r") || !strcmp(a, "--reverse-prompt")) {
            if (!*v) return usage_error(cmd, "%s needs a non-empty string", a);
            if (n_stops == MAX_STOPS) return usage_error(cmd, "at most %d stop strings", MAX_STOPS);
            stops[n_stops++] = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) bad = arg_int(cmd, a, v, -1, 1 << 24, &n_predict);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) bad = arg_int(cmd, a, v, 1, 1024, &threads);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx") || !strcmp(a, "--ctx-size")) bad = arg_int(cmd, a, v, 8, 1 << 22, &n_ctx);
        else if (!strcmp(a, "--temp")) bad = arg_float(cmd, a, v, 0, 100, &sp.temperature);
        else if (!strcmp(a, "--top-k")) bad = arg_int(cmd, a, v, 0, 1 << 24, &sp.top_k);
        else if (!strcmp(a, "--top-p")) bad = arg_float(cmd, a, v, 0, 1, &sp.top_p);
        else if (!strcmp(a, "--min-p")) bad = arg_float(cmd, a, v, 0, 1, &sp.min_p);
        else if (!strcmp(a, "--repeat-penalty")) bad = arg_float(cmd, a, v, 0.01f, 100, &sp.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n")) bad = arg_int(cmd, a, v, 0, 1 << 20, &sp.repeat_last_n);
        else if (!strcmp(a, "--seed")) bad = arg_u64(cmd, a, v, &sp.seed), seed_given = 1;
        else return usage_error(cmd, "unknown option '%s'", a);
        if (bad) return EXIT_USAGE;
    }
    if (!model_path) return usage_error(cmd, "no model given (-m)");
    cli_check_threads(cmd, threads);
    if (!seed_given) sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    char *tmpl_file = NULL, *user_text = NULL;
    int interactive = !prompt && isatty(STDIN_FILENO);
    if (!prompt && !interactive) {
        size_t len;
        if (!(user_text = read_file("-", &len))) return runtime_error(cmd, "reading standard input: %s", strerror(errno));
        while (len && (user_text[len - 1] == '\n' || user_text[len - 1] == '\r')) user_text[--len] = 0;
        if (!len) {
            free(user_text);
            free(tmpl_file);
            return runtime_error(cmd, "no message on standard input");
        }
        prompt = user_text;
    }

    chat c = {.cmd = cmd, .verbose = verbose, .interactive = interactive};
    c.cp = cllama_chat_default_params();
    c.go = (gen_opts){.n_predict = n_predict, .stops = stops, .n_stops = n_stops, .interrupt = &interrupted, .out = stdout};
    int rc = EXIT_RUNTIME;
    cllama_model_params mp = cli_model_params();
    if (cli_model_load(cmd, model_path, &mp, &c.model)) goto done;
    if (chat_template_select(cmd, c.model, tmpl_arg, &c.cp, &tmpl_file)) {
        rc = EXIT_USAGE;
        goto done;
    }
    cli_check_ctx(cmd, c.model, n_ctx);
    cllama_context_params cp = cli_context_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = cli_threads(threads);
    cp.abort_callback = abort_cb;
    if (cllama_context_init(c.model, &cp, &c.ctx) || cllama_sampler_init(&sp, cllama_model_n_vocab(c.model), &c.smp) ||
        cllama_set_sampler(c.ctx, 0, c.smp)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    if (system && *system && conv_add(&c.conv, "system", system)) {
        runtime_error(cmd, "out of memory");
        goto done;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C also ends a wait for input */
    if (interactive) {
        interactive_loop(&c);
        rc = 0;
    } else {
        rc = turn(&c, prompt) ? EXIT_RUNTIME : 0;
    }
done:
    for (int i = 0; i < c.conv.n; i++) {
        free((char *)c.conv.m[i].role);
        free((char *)c.conv.m[i].content);
    }
    free(c.conv.m);
    free(c.cache);
    cllama_sampler_free(c.smp);
    cllama_context_free(c.ctx);
    cllama_model_free(c.model);
    free(tmpl_file);
    free(user_text);
    return rc;
}
