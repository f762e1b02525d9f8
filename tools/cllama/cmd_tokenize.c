/* cllama tokenize: the tokens of a text, one per line as id<TAB>'piece', or the
 * id list with --ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "chat_prompt.h"
#include "prompt.h"
#include "commands.h"
#include <cjson/cJSON.h>

static const char *HELP =
    "usage: cllama tokenize -m MODEL (-p TEXT | -f FILE | --chat FILE) [--ids] [--no-bos] [--special]\n"
    "Prints the tokens of the text, one per line as id<TAB>'piece' (control characters\n"
    "and bytes that are not UTF-8 escaped as \\n, \\t, \\xNN; control tokens such as <s>\n"
    "shown by their text).\n"
    "  -m, --model MODEL    GGUF file (a vocabulary-only file is enough)\n"
    "  -p, --prompt TEXT    text to tokenize\n"
    "  -f, --file FILE      read the text from FILE ('-': standard input)\n"
    "  --chat FILE          a conversation, as JSON [{\"role\": ..., \"content\": ...}, ...] ('-': stdin),\n"
    "                       rendered through the chat template and tokenized as `cllama chat` does\n"
    "  --chat-template NAME|FILE  with --chat: a built-in or a Jinja file instead of the model's\n"
    "  --no-generation-prompt     with --chat: do not end with the assistant's header\n"
    "  --ids                print only the ids, as one line [1, 2, 3]\n"
    "  --no-bos             do not prepend BOS (by default it is added if the vocabulary asks for it)\n"
    "  --special            match special tokens such as <|eot_id|> in the text\n"
    "  -h, --help           this help\n";

/* Writes bytes with control characters, backslashes and invalid UTF-8 escaped. */
static void put_escaped(const char *p, int n, FILE *f) {
    for (int i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        int len = 0;
        if (c >= 0x20 && c < 0x7F) len = 1;
        else if (c >= 0xC2 && c <= 0xF4) {
            int need = c <= 0xDF ? 2 : c <= 0xEF ? 3 : 4;
            len = need;
            for (int k = 1; k < need; k++)
                if (i + k >= n || ((unsigned char)p[i + k] & 0xC0) != 0x80) len = 0;
            if (len == 3 && ((c == 0xE0 && (unsigned char)p[i + 1] < 0xA0) || (c == 0xED && (unsigned char)p[i + 1] > 0x9F)))
                len = 0;
            if (len == 4 && ((c == 0xF0 && (unsigned char)p[i + 1] < 0x90) || (c == 0xF4 && (unsigned char)p[i + 1] > 0x8F)))
                len = 0;
        }
        if (c == '\\') fputs("\\\\", f), len = 1;
        else if (c == '\n') fputs("\\n", f), len = 1;
        else if (c == '\t') fputs("\\t", f), len = 1;
        else if (c == '\r') fputs("\\r", f), len = 1;
        else if (!len) fprintf(f, "\\x%02x", c), len = 1;
        else fwrite(p + i, 1, (size_t)len, f);
        i += len;
    }
}

static void print_tokens(const cllama_model *m, const int32_t *ids, int n, int ids_only);

/* --chat: the conversation in FILE through the template, tokenized as chat does. */
static int tokenize_chat(const char *cmd, const char *model, const char *path, const char *tmpl_arg, int gen_prompt,
                         int ids_only) {
    size_t len;
    char *js = read_file(path, &len);
    if (!js) return runtime_error(cmd, "%s: %s", path, strerror(errno));
    cJSON *root = cJSON_Parse(js);
    free(js);
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
    cllama_chat_message *msgs = n > 0 ? calloc((size_t)n, sizeof *msgs) : NULL;
    for (int i = 0; i < n && msgs; i++) {
        const cJSON *e = cJSON_GetArrayItem(root, i), *r = cJSON_GetObjectItemCaseSensitive(e, "role"),
                    *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(c)) n = -1;
        else msgs[i] = (cllama_chat_message){r->valuestring, c->valuestring};
    }
    if (n <= 0 || !msgs) {
        free(msgs);
        cJSON_Delete(root);
        return runtime_error(cmd, "%s: expected a JSON list of {\"role\": string, \"content\": string}", path);
    }
    cllama_model_params mp = cli_model_params();
    mp.vocab_only = 1;
    cllama_model *m;
    int rc = EXIT_RUNTIME;
    char *owned = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    cllama_chat_params cp = cllama_chat_default_params();
    cp.add_generation_prompt = gen_prompt;
    if (cllama_model_load(model, &mp, &m)) {
        runtime_error(cmd, "%s", cllama_last_error());
    } else {
        if ((rc = chat_template_select(cmd, m, tmpl_arg, &cp, &owned)) == 0) {
            if (chat_tokens(m, msgs, n, &cp, &ids, &n_ids)) rc = runtime_error(cmd, "%s", cllama_last_error());
            else print_tokens(m, ids, n_ids, ids_only);
        }
        cllama_model_free(m);
    }
    free(ids);
    free(owned);
    free(msgs);
    cJSON_Delete(root);
    if (!rc && fflush(stdout)) return runtime_error(cmd, "writing the output: %s", strerror(errno));
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model = NULL, *text = NULL, *file = NULL, *chat_file = NULL, *tmpl_arg = NULL;
    int ids_only = 0, no_bos = 0, special = 0, gen_prompt = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--chat")) {
            if (!(chat_file = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--chat-template")) {
            if (!(tmpl_arg = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--no-generation-prompt")) {
            gen_prompt = 0;
        } else if (!strcmp(a, "--ids")) {
            ids_only = 1;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = 1;
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown option '%s'", a);
        } else {
            return usage_error(cmd, "unexpected argument '%s'", a);
        }
    }
    if (!model) return usage_error(cmd, "no model given (-m MODEL)");
    if (!text && !file && !chat_file) return usage_error(cmd, "no text given (-p TEXT, -f FILE or --chat FILE)");
    if (!!text + !!file + !!chat_file > 1) return usage_error(cmd, "give only one of -p, -f and --chat");
    if (chat_file) return tokenize_chat(cmd, model, chat_file, tmpl_arg, gen_prompt, ids_only);

    size_t len;
    char *owned = NULL;
    if (file) {
        if (!(owned = read_file(file, &len))) return runtime_error(cmd, "%s: %s", file, strerror(errno));
        text = owned;
    } else {
        len = strlen(text);
    }
    cllama_model_params mp = cli_model_params();
    mp.vocab_only = 1;
    cllama_model *m;
    if (cllama_model_load(model, &mp, &m)) {
        free(owned);
        return runtime_error(cmd, "%s", cllama_last_error());
    }
    int flags = (no_bos ? 0 : CLLAMA_TOKENIZE_ADD_BOS) | (special ? CLLAMA_TOKENIZE_SPECIAL : 0);
    int32_t *ids = NULL;
    int n = 0;
    int bad = tokenize_all(m, text, len, flags, &ids, &n);
    free(owned);
    if (bad) {
        int rc = runtime_error(cmd, "%s", *cllama_last_error() ? cllama_last_error() : "out of memory");
        cllama_model_free(m);
        return rc;
    }
    print_tokens(m, ids, n, ids_only);
    free(ids);
    cllama_model_free(m);
    if (fflush(stdout)) return runtime_error(cmd, "writing the output: %s", strerror(errno));
    return 0;
}

static void print_tokens(const cllama_model *m, const int32_t *ids, int n, int ids_only) {
    if (ids_only) {
        putchar('[');
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else {
        for (int i = 0; i < n; i++) {
            char piece[1024];
            int k = cllama_token_to_piece(m, ids[i], piece, (int)sizeof piece);
            int tl;
            const char *raw = cllama_token_text(m, ids[i], &tl);
            int tt = cllama_token_type(m, ids[i]);
            printf("%d\t'", ids[i]);
            if (k == 0 && raw && tt != 1) put_escaped(raw, tl, stdout); /* control/unknown: show its text */
            else if (k > 0) put_escaped(piece, k, stdout);
            fputs("'\n", stdout);
        }
    }
}
