/* cllama serve: the HTTP side (libmicrohttpd, one thread per connection). Listens
 * before the model is loaded (GET /health answers 503 until it is), checks every
 * request against limits (body size, connection count, idle time, queue length, API
 * key), answers OpenAI's endpoints through serve_api.c and the engine thread, and
 * logs one line per request through the library's log callback. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "chat_prompt.h"
#include "commands.h"
#include "prompt.h"
#include "serve.h"

static const char *HELP =
    "usage: cllama serve -m MODEL [options]\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions, /v1/completions, GET\n"
    "/v1/models, /health, /metrics (Prometheus), POST /tokenize, /detokenize, and a\n"
    "chat page at /.\n"
    "  --host ADDR          address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port N             port (default 8080; 0 picks a free one, printed at start)\n"
    "  --parallel N         requests decoded together (default 4); more wait in a queue\n"
    "  -c, --ctx-size, --ctx N  KV cache cells in all (default: 4096 per parallel slot, at most\n"
    "                       the training context); each request may use ctx / parallel\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "  --api-key KEY        require 'Authorization: Bearer KEY' on the API\n"
    "  --api-key-file F     the same, the key read from the first line of F\n"
    "  --timeout S          close a connection idle for S seconds (default 60)\n"
    "  --queue N            requests waiting for a slot before 503 (default 64)\n"
    "  --max-connections N  connections at once (default 64)\n"
    "  --max-body BYTES     largest request body (default 8388608)\n"
    "  --chat-template NAME|FILE  a built-in template or a Jinja file instead of the model's\n"
    "  --alias NAME         the model's name in the API (default: the file name)\n";

extern const char cl_serve_page_html[]; /* tools/cllama/serve_page.html, compiled in */

typedef struct {
    char path[64];
    int status;
    unsigned long count;
} route_count;

static struct {
    atomic_int ready;
    cllama_model *model;
    srv_engine *engine;
    cllama_chat_params tmpl;
    const char *api_key;
    char model_name[256];
    size_t max_body;
    pthread_mutex_t mu; /* counts */
    route_count counts[64];
    int n_counts;
    atomic_ulong req_seq;
} S;

typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
    double t0;
    srv_req *req; /* submitted to the engine: cancelled if the connection ends first */
} conn;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void count(const char *path, int status) {
    pthread_mutex_lock(&S.mu);
    int i = 0;
    while (i < S.n_counts && (strcmp(S.counts[i].path, path) || S.counts[i].status != status)) i++;
    if (i == S.n_counts && i < 64) {
        snprintf(S.counts[i].path, sizeof S.counts[i].path, "%s", path);
        S.counts[i].status = status;
        S.n_counts++;
    }
    if (i < 64) S.counts[i].count++;
    pthread_mutex_unlock(&S.mu);
}

/* The route's name for logs and counts: known paths as they are, anything else "other". */
static const char *route_name(const char *url) {
    static const char *known[] = {"/",           "/health",   "/metrics",          "/v1/models",
                                  "/tokenize",   "/detokenize", "/v1/chat/completions", "/v1/completions"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(url, known[i])) return known[i];
    return "other";
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type, const char *body, size_t n,
                                const char *retry_after) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, char *json) {
    enum MHD_Result rc = json ? send_buf(c, status, "application/json", json, strlen(json), NULL) : MHD_NO;
    free(json);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *type, const char *message,
                                  const char *param, const char *code) {
    char *j = srv_format_error(message, type, param, code);
    enum MHD_Result rc = j ? send_buf(c, status, "application/json", j, strlen(j), status == 503 ? "1" : NULL) : MHD_NO;
    free(j);
    return rc;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(struct MHD_Connection *c) {
    if (!S.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    const char *k = h + 7;
    size_t n = strlen(k), m = strlen(S.api_key);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++) diff |= (unsigned char)(S.api_key[i] ^ (i < n ? k[i] : 0));
    return diff == 0;
}

/* 1 if the client has closed the connection (checked without reading). */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 1;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits up to 200 ms for the request to have events or be done. */
static void wait_events(srv_req *r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->mu);
    if (!r->head && !r->done) pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    pthread_mutex_unlock(&r->mu);
}

static void cancel(srv_req *r) {
    pthread_mutex_lock(&r->mu);
    r->cancelled = 1;
    pthread_mutex_unlock(&r->mu);
}

/* ---- streaming ---- */

typedef struct {
    srv_req *r;
    struct MHD_Connection *c;
    const char *url;
    double t0;
    char *out;       /* formatted, not yet sent */
    size_t n, off, cap;
    int first, finished;
    size_t text_off;
} stream;

static void sput(stream *s, const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = strlen(c);
    if (s->n + la + lb + lc + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + la + lb + lc + 1) cap *= 2;
        char *p = realloc(s->out, cap);
        if (!p) return;
        s->out = p;
        s->cap = cap;
    }
    memcpy(s->out + s->n, a, la), s->n += la;
    if (lb) memcpy(s->out + s->n, b, lb), s->n += lb;
    memcpy(s->out + s->n, c, lc), s->n += lc;
}

static void sse(stream *s, char *json) {
    if (!json) return;
    sput(s, "data: ", json, "\n\n");
    free(json);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *s = cls;
    while (s->off == s->n) {
        s->off = s->n = 0;
        if (s->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(s->c)) {
            cancel(s->r);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        wait_events(s->r);
        pthread_mutex_lock(&s->r->mu);
        srv_event *ev = srv_req_take(s->r);
        int done = s->r->done;
        pthread_mutex_unlock(&s->r->mu);
        for (srv_event *e = ev; e; e = e->next) {
            sse(s, srv_format_chunk(s->r, S.model_name, e->text, e->logprobs_json, s->first, NULL, 0));
            s->first = 0;
        }
        srv_events_free(ev);
        if (done && !ev) {
            if (s->r->finish) {
                sse(s, srv_format_chunk(s->r, S.model_name, NULL, NULL, s->first, s->r->finish, 0));
                if (s->r->include_usage) sse(s, srv_format_chunk(s->r, S.model_name, NULL, NULL, 0, NULL, 1));
            } else {
                sse(s, srv_format_error(s->r->error, "server_error", NULL, NULL));
            }
            sput(s, "data: [DONE]", NULL, "\n\n");
            s->finished = 1;
        }
    }
    size_t k = s->n - s->off < max ? s->n - s->off : max;
    memcpy(buf, s->out + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

static void log_request(const char *method, const char *url, int status, const srv_req *r, double t0);

static void stream_free(void *cls) {
    stream *s = cls;
    log_request("POST", s->url, s->finished ? 200 : 499, s->r, s->t0);
    srv_req_release(s->r);
    free(s->out);
    free(s);
}

/* ---- endpoints ---- */

static void log_request(const char *method, const char *url, int status, const srv_req *r, double t0) {
    if (r)
        cllama_log(CLLAMA_LOG_INFO, "%s %s %d prompt=%d cached=%d gen=%d %.3fs", method, route_name(url), status, r->n_prompt,
                   r->n_cached, r->n_gen, now_s() - t0);
    else cllama_log(CLLAMA_LOG_INFO, "%s %s %d %.3fs", method, route_name(url), status, now_s() - t0);
    count(route_name(url), status);
}

static enum MHD_Result whole_answer(struct MHD_Connection *c, conn *cn, srv_req *r, const char *url);

static enum MHD_Result completions(struct MHD_Connection *c, conn *cn, int kind, const char *url) {
    srv_req *r = srv_req_new();
    if (!r) return send_error(c, 500, "server_error", "out of memory", NULL, NULL);
    srv_error err;
    if (srv_parse_request(S.model, &S.tmpl, kind, cn->body ? cn->body : "", cn->len, srv_engine_slot_ctx(S.engine), r, &err)) {
        srv_req_release(r);
        log_request("POST", url, 400, NULL, cn->t0);
        return send_error(c, 400, "invalid_request_error", err.message, err.param, NULL);
    }
    unsigned long seq = atomic_fetch_add(&S.req_seq, 1);
    snprintf(r->id, sizeof r->id, "%s-%lx%06lx", kind == SRV_CHAT ? "chatcmpl" : "cmpl", (unsigned long)time(NULL), seq);
    r->created = (int64_t)time(NULL);
    r->t_submit = now_s();
    if (srv_engine_submit(S.engine, r)) {
        srv_req_release(r);
        log_request("POST", url, 503, NULL, cn->t0);
        return send_error(c, 503, "server_error", "the server is busy: every slot is taken and the queue is full; retry later",
                          NULL, "overloaded");
    }
    cn->req = r;
    pthread_mutex_lock(&r->mu);
    r->refs++; /* the connection's, dropped in on_completed */
    pthread_mutex_unlock(&r->mu);
    if (r->stream) {
        stream *s = calloc(1, sizeof *s);
        if (!s) return MHD_NO;
        s->r = r, s->c = c, s->first = 1, s->url = route_name(url), s->t0 = cn->t0;
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, stream_read, s, stream_free);
        if (!resp) {
            stream_free(s);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    enum MHD_Result rc = whole_answer(c, cn, r, url);
    srv_req_release(r); /* the handler's reference; the connection keeps its own until on_completed */
    return rc;
}

/* A non-streamed answer: the request's events gathered until it is done, then one
 * response (or nothing, if the client left first: the request is cancelled). */
static enum MHD_Result whole_answer(struct MHD_Connection *c, conn *cn, srv_req *r, const char *url) {
    size_t tn = 0, tcap = 1024;
    char *text = malloc(tcap);
    char *lp = NULL; /* the logprob entries, merged into one JSON array */
    size_t ln = 0;
    for (;;) {
        wait_events(r);
        pthread_mutex_lock(&r->mu);
        srv_event *ev = srv_req_take(r);
        int done = r->done;
        pthread_mutex_unlock(&r->mu);
        for (srv_event *e = ev; e && text; e = e->next) {
            size_t k = strlen(e->text);
            if (tn + k + 1 > tcap) {
                while (tn + k + 1 > tcap) tcap *= 2;
                char *t = realloc(text, tcap);
                if (!t) free(text);
                text = t;
                if (!text) break;
            }
            memcpy(text + tn, e->text, k);
            tn += k;
            if (e->logprobs_json && strlen(e->logprobs_json) > 2) { /* "[{...}]": append the inside */
                size_t k2 = strlen(e->logprobs_json) - 2;
                char *l = realloc(lp, ln + k2 + 3);
                if (l) {
                    lp = l;
                    if (ln) lp[ln++] = ',';
                    memcpy(lp + ln, e->logprobs_json + 1, k2);
                    ln += k2;
                    lp[ln] = 0;
                }
            }
        }
        srv_events_free(ev);
        if (done) break;
        if (client_gone(c)) {
            cancel(r);
            free(text), free(lp);
            log_request("POST", url, 499, r, cn->t0);
            return MHD_NO;
        }
    }
    if (!text) return send_error(c, 500, "server_error", "out of memory", NULL, NULL);
    text[tn] = 0;
    if (!r->finish) {
        log_request("POST", url, 500, r, cn->t0);
        char msg[300];
        snprintf(msg, sizeof msg, "%s", r->error);
        free(text), free(lp);
        return send_error(c, 500, "server_error", msg, NULL, NULL);
    }
    char *all_lp = NULL;
    if (lp || r->logprobs) {
        all_lp = malloc(ln + 3);
        if (all_lp) snprintf(all_lp, ln + 3, "[%s]", lp ? lp : "");
    }
    char *json = srv_format_response(r, S.model_name, text, all_lp);
    free(text), free(lp), free(all_lp);
    log_request("POST", url, 200, r, cn->t0);
    return send_json(c, 200, json);
}

static enum MHD_Result tokenize(struct MHD_Connection *c, conn *cn, const char *url) {
    cJSON *root = cJSON_ParseWithLength(cn->body ? cn->body : "", cn->len);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content"),
                *add = cJSON_GetObjectItemCaseSensitive(root, "add_special");
    if (!cJSON_IsString(content)) {
        cJSON_Delete(root);
        log_request("POST", url, 400, NULL, cn->t0);
        return send_error(c, 400, "invalid_request_error", "'content' must be a string", "content", NULL);
    }
    size_t len = strlen(content->valuestring);
    int32_t *ids = NULL;
    int n = 0, flags = CLLAMA_TOKENIZE_SPECIAL | (cJSON_IsTrue(add) ? CLLAMA_TOKENIZE_ADD_BOS : 0);
    int bad = len > (1u << 26) || tokenize_all(S.model, content->valuestring, len, flags, &ids, &n);
    cJSON_Delete(root);
    if (bad) {
        free(ids);
        log_request("POST", url, 400, NULL, cn->t0);
        return send_error(c, 400, "invalid_request_error", "the content cannot be tokenized", "content", NULL);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(ids, n));
    free(ids);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    log_request("POST", url, 200, NULL, cn->t0);
    return send_json(c, 200, s);
}

static enum MHD_Result detokenize(struct MHD_Connection *c, conn *cn, const char *url) {
    cJSON *root = cJSON_ParseWithLength(cn->body ? cn->body : "", cn->len);
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokens"), *t;
    int V = cllama_model_n_vocab(S.model), ok = cJSON_IsArray(toks);
    cJSON_ArrayForEach(t, toks) ok &= cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < V;
    if (!ok) {
        cJSON_Delete(root);
        log_request("POST", url, 400, NULL, cn->t0);
        return send_error(c, 400, "invalid_request_error", "'tokens' must be an array of token ids of this model", "tokens",
                          NULL);
    }
    size_t cap = 256, n = 0;
    char *text = malloc(cap), piece[1024];
    cllama_detok d;
    cllama_detok_init(&d, S.model, CLLAMA_DETOK_SPECIAL);
    cJSON_ArrayForEach(t, toks) {
        int k = cllama_detok_push(&d, (int32_t)t->valuedouble, piece, (int)sizeof piece);
        if (k < 0 || !text) continue;
        if (n + (size_t)k + 8 > cap) {
            while (n + (size_t)k + 8 > cap) cap *= 2;
            char *p = realloc(text, cap);
            if (!p) free(text);
            text = p;
            if (!text) continue;
        }
        memcpy(text + n, piece, (size_t)k);
        n += (size_t)k;
    }
    cJSON_Delete(root);
    if (!text) return send_error(c, 500, "server_error", "out of memory", NULL, NULL);
    n += (size_t)cllama_detok_flush(&d, text + n, 8);
    text[n] = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "content", text);
    free(text);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    log_request("POST", url, 200, NULL, cn->t0);
    return send_json(c, 200, s);
}

static enum MHD_Result metrics(struct MHD_Connection *c, const char *url, double t0) {
    srv_stats st;
    srv_engine_stats(S.engine, &st);
    size_t cap = 8192, n = 0;
    char *b = malloc(cap);
    if (!b) return MHD_NO;
#define OUT(...) n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__)
    OUT("# HELP cllama_requests_total Requests answered, by route and HTTP status.\n# TYPE cllama_requests_total counter\n");
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < S.n_counts; i++)
        OUT("cllama_requests_total{route=\"%s\",status=\"%d\"} %lu\n", S.counts[i].path, S.counts[i].status, S.counts[i].count);
    pthread_mutex_unlock(&S.mu);
    OUT("# HELP cllama_prompt_tokens_total Prompt tokens evaluated.\n# TYPE cllama_prompt_tokens_total counter\n"
        "cllama_prompt_tokens_total %llu\n", (unsigned long long)st.prompt_tokens);
    OUT("# HELP cllama_prompt_tokens_cached_total Prompt tokens a slot already held (not evaluated).\n"
        "# TYPE cllama_prompt_tokens_cached_total counter\ncllama_prompt_tokens_cached_total %llu\n",
        (unsigned long long)st.prompt_tokens_cached);
    OUT("# HELP cllama_generated_tokens_total Tokens generated.\n# TYPE cllama_generated_tokens_total counter\n"
        "cllama_generated_tokens_total %llu\n", (unsigned long long)st.gen_tokens);
    OUT("# HELP cllama_prompt_tokens_per_second Prompt tokens per second of evaluation time.\n"
        "# TYPE cllama_prompt_tokens_per_second gauge\ncllama_prompt_tokens_per_second %.3f\n",
        st.prompt_seconds > 0 ? st.prompt_tokens / st.prompt_seconds : 0.0);
    OUT("# HELP cllama_generated_tokens_per_second Generated tokens per second of evaluation time (all slots).\n"
        "# TYPE cllama_generated_tokens_per_second gauge\ncllama_generated_tokens_per_second %.3f\n",
        st.gen_seconds > 0 ? st.gen_tokens / st.gen_seconds : 0.0);
    OUT("# HELP cllama_queue_depth Requests waiting for a slot.\n# TYPE cllama_queue_depth gauge\ncllama_queue_depth %d\n",
        st.queue);
    OUT("# HELP cllama_slots_busy Slots serving a request.\n# TYPE cllama_slots_busy gauge\ncllama_slots_busy %d\n", st.busy);
    OUT("# HELP cllama_slots Slots (--parallel).\n# TYPE cllama_slots gauge\ncllama_slots %d\n", st.slots);
    OUT("# HELP cllama_batches_in_flight_total Batches of a group of slots sent down the MPI pipeline while another "
        "group's was in flight.\n# TYPE cllama_batches_in_flight_total counter\ncllama_batches_in_flight_total %llu\n",
        (unsigned long long)st.overlapped);
    OUT("# HELP cllama_kv_cache_cells_used KV cache cells in use.\n# TYPE cllama_kv_cache_cells_used gauge\n"
        "cllama_kv_cache_cells_used %d\n", st.kv_used);
    OUT("# HELP cllama_kv_cache_cells KV cache cells in all.\n# TYPE cllama_kv_cache_cells gauge\ncllama_kv_cache_cells %d\n",
        st.kv_total);
    OUT("# HELP cllama_kv_cache_usage_ratio Share of the KV cache in use.\n# TYPE cllama_kv_cache_usage_ratio gauge\n"
        "cllama_kv_cache_usage_ratio %.4f\n", st.kv_total ? (double)st.kv_used / st.kv_total : 0.0);
#undef OUT
    if (n >= cap) n = cap - 1;
    enum MHD_Result rc = send_buf(c, 200, "text/plain; version=0.0.4", b, n, NULL);
    free(b);
    log_request("GET", url, 200, NULL, t0);
    return rc;
}

static enum MHD_Result models(struct MHD_Connection *c, const char *url, double t0) {
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddStringToObject(m, "id", S.model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)time(NULL));
    cJSON_AddStringToObject(m, "owned_by", "cllama");
    cJSON_AddItemToArray(data, m);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    log_request("GET", url, 200, NULL, t0);
    return send_json(c, 200, s);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls, (void)version;
    conn *cn = *con_cls;
    if (!cn) { /* headers in: the body (if any) comes next */
        if (!(cn = calloc(1, sizeof *cn))) return MHD_NO;
        cn->t0 = now_s();
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cn->too_large) {
            if (cn->len + *upload_size > S.max_body) {
                cn->too_large = 1;
            } else {
                if (cn->len + *upload_size + 1 > cn->cap) {
                    size_t cap = cn->cap ? cn->cap : 4096;
                    while (cap < cn->len + *upload_size + 1) cap *= 2;
                    char *b = realloc(cn->body, cap);
                    if (!b) return MHD_NO;
                    cn->body = b;
                    cn->cap = cap;
                }
                memcpy(cn->body + cn->len, upload, *upload_size);
                cn->len += *upload_size;
                cn->body[cn->len] = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(method, "OPTIONS")) { /* CORS preflight from a page served elsewhere */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
        enum MHD_Result rc = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (cn->too_large) {
        log_request(method, url, 413, NULL, cn->t0);
        char msg[128];
        snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", S.max_body);
        return send_error(c, 413, "invalid_request_error", msg, NULL, "request_too_large");
    }
    if (get && !strcmp(url, "/")) {
        log_request(method, url, 200, NULL, cn->t0);
        return send_buf(c, 200, "text/html; charset=utf-8", cl_serve_page_html, strlen(cl_serve_page_html), NULL);
    }
    if (get && !strcmp(url, "/health")) {
        int ready = atomic_load(&S.ready);
        log_request(method, url, ready ? 200 : 503, NULL, cn->t0);
        if (!ready) return send_error(c, 503, "unavailable_error", "Loading model", NULL, "loading");
        const char *ok = "{\"status\":\"ok\"}";
        return send_buf(c, 200, "application/json", ok, strlen(ok), NULL);
    }
    const char *route = route_name(url);
    if (!strcmp(route, "other") || !strcmp(route, "/")) {
        log_request(method, url, 404, NULL, cn->t0);
        return send_error(c, 404, "invalid_request_error", "no such endpoint", NULL, "not_found");
    }
    int want_get = !strcmp(route, "/metrics") || !strcmp(route, "/v1/models");
    if ((want_get && !get) || (!want_get && !post)) {
        log_request(method, url, 405, NULL, cn->t0);
        return send_error(c, 405, "invalid_request_error", want_get ? "use GET" : "use POST", NULL, "method_not_allowed");
    }
    if (!authorized(c)) {
        log_request(method, url, 401, NULL, cn->t0);
        return send_error(c, 401, "invalid_request_error", "a valid API key is required: Authorization: Bearer KEY", NULL,
                          "invalid_api_key");
    }
    if (!atomic_load(&S.ready)) {
        log_request(method, url, 503, NULL, cn->t0);
        return send_error(c, 503, "unavailable_error", "Loading model", NULL, "loading");
    }
    if (!strcmp(route, "/metrics")) return metrics(c, url, cn->t0);
    if (!strcmp(route, "/v1/models")) return models(c, url, cn->t0);
    if (!strcmp(route, "/tokenize")) return tokenize(c, cn, url);
    if (!strcmp(route, "/detokenize")) return detokenize(c, cn, url);
    return completions(c, cn, !strcmp(route, "/v1/chat/completions") ? SRV_CHAT : SRV_COMPLETION, url);
}

/* The connection ended (answered, or the client went away): a request still running
 * for it is cancelled, so its slot is freed at the next step. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c;
    conn *cn = *con_cls;
    if (!cn) return;
    if (cn->req) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) cancel(cn->req);
        srv_req_release(cn->req);
    }
    free(cn->body);
    free(cn);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = 0;
    cllama_log(CLLAMA_LOG_DEBUG, "http: %s", msg);
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static char *read_key_file(const char *path) {
    size_t len;
    char *k = read_file(path, &len);
    if (!k) return NULL;
    k[strcspn(k, "\r\n")] = 0;
    return k;
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve", *v, *model_path = NULL, *host = "127.0.0.1", *key = NULL, *key_file = NULL, *tmpl_arg = NULL,
               *alias = NULL;
    int port = 8080, parallel = 4, n_ctx = 0, threads = 0, timeout = 60, queue = 64, max_conn = 64, max_body = 8 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        int bad = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) bad = arg_int(cmd, a, v, 0, 65535, &port);
        else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) bad = arg_int(cmd, a, v, 1, 64, &parallel);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx") || !strcmp(a, "--ctx-size")) bad = arg_int(cmd, a, v, 16, 1 << 22, &n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) bad = arg_int(cmd, a, v, 1, 1024, &threads);
        else if (!strcmp(a, "--api-key")) key = v;
        else if (!strcmp(a, "--api-key-file")) key_file = v;
        else if (!strcmp(a, "--timeout")) bad = arg_int(cmd, a, v, 1, 86400, &timeout);
        else if (!strcmp(a, "--queue")) bad = arg_int(cmd, a, v, 0, 100000, &queue);
        else if (!strcmp(a, "--max-connections")) bad = arg_int(cmd, a, v, 4, 4096, &max_conn);
        else if (!strcmp(a, "--max-body")) bad = arg_int(cmd, a, v, 1024, 1 << 30, &max_body);
        else if (!strcmp(a, "--chat-template")) tmpl_arg = v;
        else if (!strcmp(a, "--alias")) alias = v;
        else return usage_error(cmd, "unknown option '%s'", a);
        if (bad) return EXIT_USAGE;
    }
    if (!model_path) return usage_error(cmd, "no model given (-m)");
    if (key && key_file) return usage_error(cmd, "give only one of --api-key and --api-key-file");
    char *file_key = NULL;
    if (key_file && !(key = file_key = read_key_file(key_file)))
        return usage_error(cmd, "--api-key-file: cannot read %s: %s", key_file, strerror(errno));
    if (key && !*key) {
        free(file_key);
        return usage_error(cmd, "the API key is empty");
    }
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    int v6 = strchr(host, ':') != NULL;
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    if (v6 ? inet_pton(AF_INET6, host, &a6.sin6_addr) != 1 : inet_pton(AF_INET, host, &a4.sin_addr) != 1) {
        free(file_key);
        return usage_error(cmd, "--host '%s' is not an IPv4 or IPv6 address", host);
    }
    cli_check_threads(cmd, threads);
    cli_log_set_level(CLLAMA_LOG_INFO);
    S.api_key = key;
    S.max_body = (size_t)max_body;
    pthread_mutex_init(&S.mu, NULL);
    const char *slash = strrchr(model_path, '/');
    snprintf(S.model_name, sizeof S.model_name, "%s", alias ? alias : slash ? slash + 1 : model_path);

    /* listen first: /health says 503 while the model loads */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
        (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
    if (!d) {
        free(file_key);
        return runtime_error(cmd, "cannot listen on %s port %d: %s", host, port, strerror(errno));
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? di->port : port;
    fprintf(stderr, "cllama serve: listening on http://%s%s%s:%d/ (loading %s)\n", v6 ? "[" : "", host, v6 ? "]" : "",
            bound, model_path);

    int rc = EXIT_RUNTIME;
    char *tmpl_owned = NULL;
    cllama_model_params mp = cli_model_params();
    if (cli_model_load(cmd, model_path, &mp, &S.model)) goto done;
    S.tmpl = cllama_chat_default_params();
    if (chat_template_select(cmd, S.model, tmpl_arg, &S.tmpl, &tmpl_owned)) {
        rc = EXIT_USAGE;
        goto done;
    }
    int train = cllama_model_n_ctx_train(S.model);
    if (n_ctx) cli_check_ctx(cmd, S.model, n_ctx / parallel); /* each slot's share */
    srv_engine_params ep = {.parallel = parallel, .n_ctx = n_ctx ? n_ctx : parallel * (train < 4096 ? train : 4096),
                            .n_threads = cli_threads(threads), .queue_max = queue};
    if (srv_engine_start(S.model, &ep, &S.engine)) {
        runtime_error(cmd, "%s", cllama_last_error());
        goto done;
    }
    atomic_store(&S.ready, 1);
    fprintf(stderr, "cllama serve: ready: %s, %d parallel slots of %d tokens, template %s%s\n", S.model_name, parallel,
            srv_engine_slot_ctx(S.engine), cllama_chat_template_family(S.tmpl.tmpl ? S.tmpl.tmpl : cllama_model_chat_template(S.model)),
            key ? ", API key required" : "");
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_signal) pause();
    fprintf(stderr, "cllama serve: stopping\n");
    rc = 0;
done:
    atomic_store(&S.ready, 0);
    MHD_stop_daemon(d);
    srv_engine_stop(S.engine);
    cllama_model_free(S.model);
    free(tmpl_owned);
    free(file_key);
    return rc;
}
