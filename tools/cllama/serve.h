/* cllama serve: an OpenAI-compatible HTTP server.
 *
 *   cmd_serve.c    options, the HTTP side (libmicrohttpd, a thread per connection):
 *                  routes, limits, API keys, errors, streaming, metrics, the chat page
 *   serve_api.c    OpenAI's request and response shapes (cJSON)
 *   serve_engine.c one thread that owns the context: --parallel slots, each a
 *                  sequence of one shared KV cache, decoded together every step
 *                  (continuous batching), requests waiting in a bounded queue
 *
 * A request is shared by its connection's thread and the engine: the connection
 * submits it and reads its events; the engine fills them; whichever lets go last
 * frees it (a reference count under the request's mutex). */
#ifndef CLLAMA_SERVE_H
#define CLLAMA_SERVE_H

#include <pthread.h>
#include <stdint.h>

#include "cllama.h"

enum srv_kind { SRV_CHAT, SRV_COMPLETION };

/* One piece of output: text and, when asked for, the logprobs of its tokens (a JSON
 * array text of OpenAI's per-token entries, or NULL). */
typedef struct srv_event {
    struct srv_event *next;
    char *text;
    char *logprobs_json;
} srv_event;

typedef struct srv_req {
    /* set before submission, read-only afterwards */
    int kind;
    int stream, include_usage;
    int32_t *prompt;
    int n_prompt;
    int max_tokens; /* after the context cap */
    cllama_sampler_params sp;
    char **stops;
    int n_stops;
    int logprobs, top_logprobs;
    int ignore_eos; /* llama-server's extension: go on past end-of-generation tokens */
    char id[48];
    int64_t created;
    double t_submit;

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_event *head, *tail; /* not yet sent */
    int done;
    const char *finish;    /* "stop", "length"; NULL on error */
    char error[256];       /* when done without finish */
    int n_gen, n_cached;   /* completion tokens; prompt tokens the slot already held */
    int cancelled;         /* the client went away */
    int refs;
    double t_first, t_done;
} srv_req;

srv_req *srv_req_new(void);
/* Drops one reference; the last frees the request. */
void srv_req_release(srv_req *r);
/* Takes the queued events (the caller frees them with srv_events_free). */
srv_event *srv_req_take(srv_req *r);
void srv_events_free(srv_event *e);

/* ---- engine ---- */

typedef struct srv_engine srv_engine;

typedef struct {
    int parallel;  /* slots */
    int n_ctx;     /* cells in all; each slot may hold n_ctx / parallel */
    int n_threads;
    int queue_max; /* requests waiting for a slot before 503 */
} srv_engine_params;

int srv_engine_start(cllama_model *m, const srv_engine_params *p, srv_engine **out);
void srv_engine_stop(srv_engine *e);
/* Tokens a slot holds at most (prompt + completion). */
int srv_engine_slot_ctx(const srv_engine *e);
/* Queues r (taking a reference): 0, or -1 when the queue is full. */
int srv_engine_submit(srv_engine *e, srv_req *r);

typedef struct {
    int queue, busy, slots;
    int kv_used, kv_total;
    uint64_t prompt_tokens, prompt_tokens_cached, gen_tokens;
    double prompt_seconds, gen_seconds; /* engine time spent in steps with prompt / generation tokens */
    uint64_t steps;
    uint64_t overlapped; /* batches submitted while another group's was in flight (MPI) */
} srv_stats;
void srv_engine_stats(srv_engine *e, srv_stats *s);

/* ---- OpenAI shapes (serve_api.c) ---- */

/* A parsed request body, or an error for a 400. */
typedef struct {
    char message[320];
    const char *param; /* the offending field, or NULL */
} srv_error;

/* Fills r from a /v1/chat/completions or /v1/completions body: the prompt rendered
 * (chat) and tokenized, sampling, stops, logprobs, stream, max_tokens capped by
 * slot_ctx. 0, or -1 with err set. */
int srv_parse_request(const cllama_model *m, const cllama_chat_params *tmpl, int kind, const char *body, size_t len,
                      int slot_ctx, srv_req *r, srv_error *err);
/* The whole response (non-streaming) from the request's events, malloc'd. */
char *srv_format_response(const srv_req *r, const char *model, const char *text, const char *logprobs_json);
/* One streamed chunk (a JSON object, malloc'd): text/logprobs, or the final one with
 * finish_reason (text NULL), or the usage chunk (usage = 1). */
char *srv_format_chunk(const srv_req *r, const char *model, const char *text, const char *logprobs_json, int first,
                       const char *finish, int usage);
/* {"error": {"message", "type", "param", "code"}} (malloc'd). */
char *srv_format_error(const char *message, const char *type, const char *param, const char *code);

/* The logprobs entries of one token: its text and log-probability, and the top_n
 * alternatives (OpenAI's chat shape, {"token", "logprob", "bytes", "top_logprobs"}). */
char *srv_logprob_entry(const cllama_model *m, const float *logits, int n_vocab, int32_t id, int top_n);

#endif
