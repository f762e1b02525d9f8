/* OpenAI's request and response shapes for cllama serve (the field names and
 * structures of the Chat Completions and legacy Completions APIs), on cJSON. Sampling
 * defaults follow llama-server's (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05);
 * temperature 0 is greedy. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_prompt.h"
#include "prompt.h"
#include "serve.h"

#define MAX_MESSAGES 4096
#define MAX_STOP_STRINGS 16
#define MAX_TOP_LOGPROBS 20

static int fail(srv_error *err, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(srv_error *err, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->param = param;
    return -1;
}

/* 1 if s is well-formed UTF-8 (what a JSON text must be). */
static int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        int need = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
        if (need < 0) return 0;
        unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        for (int k = 1; k <= need; k++)
            if (p[k] < (k == 1 ? lo : 0x80) || p[k] > (k == 1 ? hi : 0xBF)) return 0;
        p += need + 1;
    }
    return 1;
}

static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int get_number(const cJSON *o, const char *name, double lo, double hi, double *out, srv_error *err) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || !(f->valuedouble >= lo && f->valuedouble <= hi))
        return fail(err, name, "'%s' must be a number from %g to %g", name, lo, hi);
    *out = f->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *name, long lo, long hi, long *out, srv_error *err) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || f->valuedouble != floor(f->valuedouble) || f->valuedouble < lo || f->valuedouble > hi)
        return fail(err, name, "'%s' must be an integer from %ld to %ld", name, lo, hi);
    *out = (long)f->valuedouble;
    return 0;
}

static int get_bool(const cJSON *o, const char *name, int *out, srv_error *err) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return fail(err, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(f);
    return 0;
}

/* The message's content: a string, or an array of {"type": "text", "text": ...} parts
 * (joined). A malloc'd copy, or NULL with err set. */
static char *content_of(const cJSON *m, int i, srv_error *err) {
    static char param[] = "messages";
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(c)) {
        if (!utf8_ok(c->valuestring)) return fail(err, param, "messages[%d].content is not valid UTF-8", i), NULL;
        return strdup(c->valuestring);
    }
    if (cJSON_IsArray(c)) {
        size_t n = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, c) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type"), *x = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(x))
                return fail(err, param, "messages[%d].content: only text parts ({\"type\": \"text\", \"text\": ...}) are supported", i),
                       NULL;
            if (!utf8_ok(x->valuestring)) return fail(err, param, "messages[%d].content is not valid UTF-8", i), NULL;
            n += strlen(x->valuestring);
        }
        char *s = malloc(n + 1), *o = s;
        if (!s) return fail(err, param, "out of memory"), NULL;
        cJSON_ArrayForEach(part, c) {
            const char *x = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
            size_t l = strlen(x);
            memcpy(o, x, l);
            o += l;
        }
        *o = 0;
        return s;
    }
    if (cJSON_IsNull(c) || !c) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(r) && !strcmp(r->valuestring, "assistant")) return strdup(""); /* e.g. after tool calls */
    }
    return fail(err, param, "messages[%d].content must be a string or an array of text parts", i), NULL;
}

static int parse_messages(const cllama_model *m, const cllama_chat_params *tmpl, const cJSON *root, srv_req *r,
                          srv_error *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : -1;
    if (n <= 0) return fail(err, "messages", "'messages' must be a non-empty array of {\"role\", \"content\"}");
    if (n > MAX_MESSAGES) return fail(err, "messages", "at most %d messages", MAX_MESSAGES);
    cllama_chat_message *cm = calloc((size_t)n, sizeof *cm);
    if (!cm) return fail(err, NULL, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const cJSON *e = cJSON_GetArrayItem(msgs, i), *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        if (!cJSON_IsObject(e) || !cJSON_IsString(role)) {
            rc = fail(err, "messages", "messages[%d] must be an object with a string 'role'", i);
            break;
        }
        const char *rl = role->valuestring;
        if (!strcmp(rl, "developer")) rl = "system"; /* OpenAI's newer name for it */
        if (strcmp(rl, "system") && strcmp(rl, "user") && strcmp(rl, "assistant") && strcmp(rl, "tool")) {
            rc = fail(err, "messages", "messages[%d].role '%.40s' is not one of system, developer, user, assistant, tool", i,
                      role->valuestring);
            break;
        }
        cm[i].role = rl;
        if (!(cm[i].content = content_of(e, i, err))) rc = -1;
    }
    if (!rc && chat_tokens(m, cm, n, tmpl, &r->prompt, &r->n_prompt))
        rc = fail(err, "messages", "the chat template could not render these messages: %s", cllama_last_error());
    for (int i = 0; i < n; i++) free((char *)cm[i].content);
    free(cm);
    return rc;
}

static int parse_prompt(const cllama_model *m, const cJSON *root, srv_req *r, srv_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsArray(p)) { /* token ids */
        int n = cJSON_GetArraySize(p), V = cllama_model_n_vocab(m);
        if (n <= 0 || !(r->prompt = malloc((size_t)n * sizeof *r->prompt)))
            return fail(err, "prompt", "'prompt' must be a string, or a non-empty array of token ids");
        for (int i = 0; i < n; i++) {
            const cJSON *t = cJSON_GetArrayItem(p, i);
            if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 || t->valuedouble >= V)
                return fail(err, "prompt", "prompt[%d] is not a token id of this model (0 to %d)", i, V - 1);
            r->prompt[i] = (int32_t)t->valuedouble;
        }
        r->n_prompt = n;
        return 0;
    }
    if (!cJSON_IsString(p)) return fail(err, "prompt", "'prompt' must be a string, or an array of token ids");
    if (!utf8_ok(p->valuestring)) return fail(err, "prompt", "'prompt' is not valid UTF-8");
    size_t len = strlen(p->valuestring);
    if (len > (1u << 26)) return fail(err, "prompt", "'prompt' is too long");
    if (tokenize_all(m, p->valuestring, len, CLLAMA_TOKENIZE_ADD_BOS | CLLAMA_TOKENIZE_SPECIAL, &r->prompt, &r->n_prompt))
        return fail(err, "prompt", "the prompt cannot be tokenized: %s", cllama_last_error());
    if (!r->n_prompt) return fail(err, "prompt", "the prompt has no tokens");
    return 0;
}

static int parse_stop(const cJSON *root, srv_req *r, srv_error *err) {
    const cJSON *s = field(root, "stop");
    if (!s) return 0;
    int n = cJSON_IsString(s) ? 1 : cJSON_IsArray(s) ? cJSON_GetArraySize(s) : -1;
    if (n < 0 || n > MAX_STOP_STRINGS) return fail(err, "stop", "'stop' must be a string or an array of at most %d strings", MAX_STOP_STRINGS);
    if (!(r->stops = calloc((size_t)n + 1, sizeof *r->stops))) return fail(err, NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_IsString(s) ? s : cJSON_GetArrayItem(s, i);
        if (!cJSON_IsString(e) || !*e->valuestring || !utf8_ok(e->valuestring))
            return fail(err, "stop", "every stop sequence must be a non-empty UTF-8 string");
        r->stops[r->n_stops++] = strdup(e->valuestring);
    }
    return 0;
}

int srv_parse_request(const cllama_model *m, const cllama_chat_params *tmpl, int kind, const char *body, size_t len,
                      int slot_ctx, srv_req *r, srv_error *err) {
    err->param = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return fail(err, NULL, "the body is not valid JSON");
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(err, NULL, "the body must be a JSON object");
        goto done;
    }
    r->kind = kind;
    r->sp = cllama_sampler_default_params();
    r->sp.repeat_last_n = 64;
    r->sp.seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, pres = 0, freq = 0, rep = 1;
    long top_k = 40, seed = -1, max_tokens = -1, n = 1, top_lp = 0;
    const cJSON *rf = field(root, "response_format"), *so = field(root, "stream_options"), *tools = field(root, "tools");
    if (get_number(root, "temperature", 0, 2, &temp, err) || get_number(root, "top_p", 0, 1, &top_p, err) ||
        get_number(root, "min_p", 0, 1, &min_p, err) || get_int(root, "top_k", 0, 1 << 20, &top_k, err) ||
        get_number(root, "presence_penalty", -2, 2, &pres, err) || get_number(root, "frequency_penalty", -2, 2, &freq, err) ||
        get_number(root, "repeat_penalty", 0.01, 100, &rep, err) || get_int(root, "seed", 0, 0x7fffffffffffffffL, &seed, err) ||
        get_int(root, "max_tokens", 1, 1 << 30, &max_tokens, err) ||
        get_int(root, "max_completion_tokens", 1, 1 << 30, &max_tokens, err) || get_int(root, "n", 1, 1, &n, err) ||
        get_bool(root, "stream", &r->stream, err) || get_bool(root, "ignore_eos", &r->ignore_eos, err) ||
        parse_stop(root, r, err))
        goto done;
    if (kind == SRV_CHAT) {
        if (get_bool(root, "logprobs", &r->logprobs, err) || get_int(root, "top_logprobs", 0, MAX_TOP_LOGPROBS, &top_lp, err))
            goto done;
        if (top_lp && !r->logprobs) {
            fail(err, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
            goto done;
        }
    } else {
        const cJSON *lp = field(root, "logprobs"); /* legacy: how many alternatives, 0 to 5 */
        if (lp && get_int(root, "logprobs", 0, 5, &top_lp, err)) goto done;
        r->logprobs = lp != NULL;
    }
    r->top_logprobs = (int)top_lp;
    if (rf) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(t) || strcmp(t->valuestring, "text")) {
            fail(err, "response_format", "response_format %s is not supported (only {\"type\": \"text\"})",
                 cJSON_IsString(t) ? t->valuestring : "of this form");
            goto done;
        }
    }
    if (tools && (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) > 0)) {
        fail(err, "tools", "tools and function calling are not supported");
        goto done;
    }
    if (so) {
        if (!cJSON_IsObject(so) || get_bool(so, "include_usage", &r->include_usage, err)) {
            if (!err->param) fail(err, "stream_options", "'stream_options' must be an object");
            goto done;
        }
    }
    r->sp.temperature = (float)temp;
    r->sp.top_p = (float)top_p;
    r->sp.min_p = (float)min_p;
    r->sp.top_k = (int)top_k;
    r->sp.presence_penalty = (float)pres;
    r->sp.frequency_penalty = (float)freq;
    r->sp.repeat_penalty = (float)rep;
    if (seed >= 0) r->sp.seed = (uint64_t)seed;
    if ((kind == SRV_CHAT ? parse_messages(m, tmpl, root, r, err) : parse_prompt(m, root, r, err))) goto done;
    if (r->n_prompt + 1 > slot_ctx) {
        fail(err, kind == SRV_CHAT ? "messages" : "prompt",
             "the prompt has %d tokens; a request may use at most %d (the context divided by the parallel slots)", r->n_prompt,
             slot_ctx - 1);
        goto done;
    }
    int room = slot_ctx - r->n_prompt;
    r->max_tokens = max_tokens > 0 && max_tokens < room ? (int)max_tokens : room;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- responses ---- */

static char *print(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *srv_format_error(const char *message, const char *type, const char *param, const char *code) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return print(o);
}

static void add_usage(cJSON *o, const srv_req *r) {
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->n_cached);
}

/* OpenAI's chat logprobs ({"content": [entries]}) or the legacy completions shape
 * ({"tokens", "token_logprobs", "top_logprobs", "text_offset"}) from our entries. */
static cJSON *logprobs_obj(const srv_req *r, const char *entries_json, size_t text_offset) {
    cJSON *entries = entries_json ? cJSON_Parse(entries_json) : cJSON_CreateArray();
    if (!entries) entries = cJSON_CreateArray();
    cJSON *o = cJSON_CreateObject();
    if (r->kind == SRV_CHAT) {
        cJSON_AddItemToObject(o, "content", entries);
        return o;
    }
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens"), *lps = cJSON_AddArrayToObject(o, "token_logprobs"),
          *tops = cJSON_AddArrayToObject(o, "top_logprobs"), *offs = cJSON_AddArrayToObject(o, "text_offset");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *tok = cJSON_GetObjectItem(e, "token");
        cJSON_AddItemToArray(toks, cJSON_CreateString(tok->valuestring));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(cJSON_GetObjectItem(e, "logprob")->valuedouble));
        cJSON *top = cJSON_CreateObject();
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(e, "top_logprobs"))
            cJSON_AddNumberToObject(top, cJSON_GetObjectItem(t, "token")->valuestring, cJSON_GetObjectItem(t, "logprob")->valuedouble);
        cJSON_AddItemToArray(tops, top);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)text_offset));
        text_offset += strlen(tok->valuestring);
    }
    cJSON_Delete(entries);
    return o;
}

static cJSON *envelope(const srv_req *r, const char *model, int chunk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object",
                            r->kind == SRV_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "system_fingerprint", "cllama");
    return o;
}

char *srv_format_response(const srv_req *r, const char *model, const char *text, const char *logprobs_json) {
    cJSON *o = envelope(r, model, 0), *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (r->kind == SRV_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text);
    }
    if (r->logprobs) cJSON_AddItemToObject(c, "logprobs", logprobs_obj(r, logprobs_json, 0));
    else cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", r->finish ? r->finish : "stop");
    cJSON_AddItemToArray(choices, c);
    add_usage(o, r);
    return print(o);
}

char *srv_format_chunk(const srv_req *r, const char *model, const char *text, const char *logprobs_json, int first,
                       const char *finish, int usage) {
    cJSON *o = envelope(r, model, 1), *choices = cJSON_AddArrayToObject(o, "choices");
    if (usage) {
        add_usage(o, r);
        return print(o);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (r->kind == SRV_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (first) cJSON_AddStringToObject(d, "role", "assistant");
        if (text) cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
    }
    if (r->logprobs && logprobs_json) cJSON_AddItemToObject(c, "logprobs", logprobs_obj(r, logprobs_json, 0));
    else cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    return print(o);
}

/* A token's text as valid UTF-8 (a piece that is part of a character becomes U+FFFD)
 * and its bytes. */
static void token_fields(const cllama_model *m, int32_t id, cJSON *o) {
    char piece[256], text[1024];
    int k = cllama_token_to_piece(m, id, piece, (int)sizeof piece);
    cllama_detok d;
    cllama_detok_init(&d, m, CLLAMA_DETOK_SPECIAL);
    int t = cllama_detok_push(&d, id, text, (int)sizeof text - 8);
    if (t < 0) t = 0;
    t += cllama_detok_flush(&d, text + t, 8);
    text[t] = 0;
    cJSON_AddStringToObject(o, "token", text);
    cJSON *b = cJSON_AddArrayToObject(o, "bytes");
    for (int i = 0; i < k; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)piece[i]));
}

char *srv_logprob_entry(const cllama_model *m, const float *logits, int n_vocab, int32_t id, int top_n) {
    float mx = -INFINITY;
    for (int i = 0; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    cJSON *arr = cJSON_CreateArray(), *e = cJSON_CreateObject();
    token_fields(m, id, e);
    cJSON_AddNumberToObject(e, "logprob", logits[id] - lse);
    cJSON *tops = cJSON_AddArrayToObject(e, "top_logprobs");
    int best[MAX_TOP_LOGPROBS], nb = 0;
    if (top_n > MAX_TOP_LOGPROBS) top_n = MAX_TOP_LOGPROBS;
    for (int i = 0; i < n_vocab && top_n > 0; i++) { /* insertion into the top_n best */
        if (nb == top_n && logits[i] <= logits[best[nb - 1]]) continue;
        int p = nb < top_n ? nb++ : top_n - 1;
        while (p > 0 && logits[best[p - 1]] < logits[i]) best[p] = best[p - 1], p--;
        best[p] = i;
    }
    for (int i = 0; i < nb; i++) {
        cJSON *t = cJSON_CreateObject();
        token_fields(m, best[i], t);
        cJSON_AddNumberToObject(t, "logprob", logits[best[i]] - lse);
        cJSON_AddItemToArray(tops, t);
    }
    cJSON_AddItemToArray(arr, e);
    return print(arr);
}
