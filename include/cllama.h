/* cllama: Llama-family LLM inference in C.
 *
 * Conventions: opaque types, cllama_<noun>_<verb> names, init/free pairs, params
 * structs filled from cllama_*_default_params() and then edited. Every function that
 * can fail returns an int status (CLLAMA_OK or a negative CLLAMA_E_* code);
 * cllama_last_error() then gives a one-line message for the calling thread.
 *
 * The library never writes to stdout or stderr and reads no environment variable:
 * messages go to the log callback (cllama_log_set), choices come in params.
 *
 * Threads: a model is read-only once loaded and may serve any number of contexts on
 * any threads. A context is used by one thread at a time. A thread pool may be shared
 * by several contexts used from different threads at once (their work interleaves). */
#ifndef CLLAMA_H
#define CLLAMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLLAMA_VERSION_MAJOR 0
#define CLLAMA_VERSION_MINOR 2
#define CLLAMA_VERSION_PATCH 0

enum cllama_status {
    CLLAMA_OK = 0,
    CLLAMA_E_IO = -1,          /* open/read/mmap failed */
    CLLAMA_E_FORMAT = -2,      /* malformed or inconsistent file */
    CLLAMA_E_UNSUPPORTED = -3, /* valid file, feature not supported (tensor type, architecture) */
    CLLAMA_E_NOMEM = -4,
    CLLAMA_E_INVALID = -5,     /* bad argument from the caller */
    CLLAMA_E_RANGE = -6,       /* token id out of range, context full, buffer too small */
    CLLAMA_E_ABORTED = -7,     /* the abort callback stopped an evaluation */
};

/* The message of the last failure on this thread ("" if none). */
const char *cllama_last_error(void);

/* "0.2.0" and the git commit the library was built from ("unknown" outside a checkout). */
const char *cllama_version(void);
const char *cllama_build_commit(void);
/* Commits in the history of that commit (git rev-list --count; 0 outside a checkout):
 * llama-bench's build_number. */
int cllama_build_number(void);

/* ---- log ---- */

enum cllama_log_level { CLLAMA_LOG_ERROR = 1, CLLAMA_LOG_WARN = 2, CLLAMA_LOG_INFO = 3, CLLAMA_LOG_DEBUG = 4 };

/* `msg` is one line without its newline. */
typedef void (*cllama_log_fn)(int level, const char *msg, void *user);
/* Where the library's messages go, for all threads; NULL (the default) drops them.
 * Set it before loading models, not while other threads use the library. */
void cllama_log_set(cllama_log_fn fn, void *user);
/* One line through that callback, for programs that log beside the library. */
void cllama_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- threads ---- */

typedef struct cllama_threadpool cllama_threadpool;

/* Physical cores if known, else online CPUs. */
int cllama_default_threads(void);
/* A pool of n_threads (0: cllama_default_threads()) threads counting the caller: a
 * task runs on n_threads - 1 workers plus the thread that submits it. */
int cllama_threadpool_init(int n_threads, cllama_threadpool **out);
/* Only after every context using it is freed. */
void cllama_threadpool_free(cllama_threadpool *pool);
int cllama_threadpool_n_threads(const cllama_threadpool *pool);

/* ---- model ---- */

typedef struct cllama_model cllama_model;
typedef struct cllama_context cllama_context;
typedef struct cllama_sampler cllama_sampler;

typedef struct {
    int vocab_only;     /* metadata and vocabulary only; tensors are not required */
    /* Kernel set: NULL or "" for the best this CPU runs, else one of
     * cllama_kernel_sets() ("avx512-bf16", "avx512", "avx-vnni", "avx2",
     * "neon-dotprod", "neon", "generic"); a set the CPU or build lacks fails the load
     * with CLLAMA_E_UNSUPPORTED. */
    const char *kernels;
    /* 0: matrices with an 8-row layout are interleaved at load (faster; memory about
     * the file size). 1: every weight is used in place from the file mapping. */
    int no_repack;
    /* Load only layers [layer_begin, layer_end) (0, 0: all). token_embd is loaded only
     * with layer 0, output_norm and output only with the last layer: a process that
     * runs a slice of the model touches only that slice of the file. */
    int layer_begin, layer_end;
    cllama_threadpool *threadpool; /* threads for the load-time repack; NULL: a temporary pool */
} cllama_model_params;

cllama_model_params cllama_model_default_params(void);

/* Maps the GGUF file at `path` and checks it; weights stay in the mapping. */
int cllama_model_load(const char *path, const cllama_model_params *params, cllama_model **out);
/* As cllama_model_load, from a GGUF image in memory (not copied: it must outlive the model). */
int cllama_model_load_buffer(const void *buf, size_t size, const cllama_model_params *params, cllama_model **out);
void cllama_model_free(cllama_model *model);

/* Hyperparameters: what the forward pass and the memory estimates need. */
typedef struct {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    float rope_base;
    float rope_scale;  /* positions are multiplied by this (linear scaling; 1 = none) */
    float rms_eps;
    int rope_neox;     /* rotate (x[i], x[i + D/2]) pairs instead of (x[2i], x[2i+1]) */
    int qkv_bias;      /* Q, K and V projections carry biases */
    int tied_output;   /* the output projection is token_embd */
    /* Gemma 2/3, Phi-3 and Mistral-style models; the neutral values for Llama. */
    int n_swa;         /* sliding window: a token of a windowed layer attends to the n_swa latest
                        * positions, its own included; 0 = no window */
    int swa_pattern;   /* layers l with l % swa_pattern < swa_pattern - 1 are windowed (Gemma 2: 2,
                        * Gemma 3: 6; 1 = every layer); a per-layer list in the file overrides it */
    float rope_base_swa, rope_scale_swa; /* the windowed layers' rope (Gemma 3's local layers) */
    float rope_attn_factor; /* rotated values multiplied by this (LongRoPE's scaling; 1 = none) */
    int n_ctx_orig;    /* LongRoPE: contexts longer than this use rope_factors_long, else _short */
    float attn_scale;  /* scores = q.k * attn_scale (1/sqrt(head_dim) unless the model says otherwise) */
    float attn_softcap, final_softcap; /* scores, logits squashed to cap * tanh(x / cap); 0 = none */
    float embd_scale;  /* token embeddings multiplied by this (Gemma: sqrt(n_embd); 1 = none) */
    int ffn_gelu;      /* GeGLU with the tanh GELU (Gemma) instead of SwiGLU */
    int post_norms;    /* RMSNorm of the attention and FFN outputs before each residual add (Gemma) */
    int qk_norm;       /* per-head RMSNorm of queries and keys before rope (Gemma 3) */
} cllama_hparams;

typedef struct {
    char arch[32];          /* general.architecture */
    char name[128];         /* general.name, "" if absent */
    char file_type[16];     /* "Q4_K_M", "F16", ... from general.file_type, else named from the
                             * weight matrices' types; "mixed" if they match no recipe */
    cllama_hparams hp;
    uint64_t n_params;      /* values in the weight tensors */
    uint64_t weight_bytes;  /* bytes of the weight tensors */
    uint64_t file_bytes;
    uint64_t repacked_bytes; /* of the weights, interleaved at load */
    const char *kernels;    /* the kernel set in use */
    int layer_begin, layer_end; /* the layers loaded */
    double load_ms;
} cllama_model_desc;

void cllama_model_describe(const cllama_model *model, cllama_model_desc *out);
int cllama_model_n_vocab(const cllama_model *model);
int cllama_model_n_ctx_train(const cllama_model *model);
int cllama_model_n_embd(const cllama_model *model);
int cllama_model_n_layer(const cllama_model *model);
/* Describes the model (architecture, hyperparameters, tensors) on `f` (a FILE*). */
void cllama_model_print_info(const cllama_model *model, void *f);
/* A metadata value as text (strings as they are, numbers and booleans printed, arrays
 * as "[n items]") into buf (capacity cap, NUL-terminated). Returns the full length
 * (which may exceed cap - 1: the text was cut), CLLAMA_E_RANGE if the key is absent. */
int cllama_model_meta(const cllama_model *model, const char *key, char *buf, size_t cap);

/* The kernel sets this build has and this CPU runs, best first, space-separated
 * ("avx512 avx2 generic"): the values cllama_model_params.kernels takes. */
const char *cllama_kernel_sets(void);

/* ---- tokens ---- */

enum cllama_tokenize_flags {
    CLLAMA_TOKENIZE_ADD_BOS = 1, /* prepend BOS if the vocabulary asks for it */
    CLLAMA_TOKENIZE_SPECIAL = 2, /* match control tokens such as <|eot_id|> in the text */
};

/* Tokenizes `len` bytes of `text` into `ids` (capacity `cap`). Returns the number of
 * tokens; if it exceeds `cap`, only `cap` were written and the caller retries with a
 * larger buffer. Negative on error. */
int cllama_tokenize(const cllama_model *model, const char *text, size_t len, int flags,
                    int32_t *ids, int cap);

/* The bytes of token `id` as they appear in text (leading-space marker and byte
 * tokens decoded; control tokens give 0 bytes), written to `buf` (capacity `cap`, not
 * NUL-terminated). Returns the byte count, CLLAMA_E_RANGE for a bad id or a too-small
 * buffer. */
int cllama_token_to_piece(const cllama_model *model, int32_t id, char *buf, int cap);
/* The token as stored in the vocabulary (not decoded, not NUL-terminated; *len bytes),
 * NULL for a bad id. */
const char *cllama_token_text(const cllama_model *model, int32_t id, int *len);

enum cllama_token_type {
    CLLAMA_TOKEN_UNDEFINED = 0, CLLAMA_TOKEN_NORMAL = 1, CLLAMA_TOKEN_UNKNOWN = 2, CLLAMA_TOKEN_CONTROL = 3,
    CLLAMA_TOKEN_USER_DEFINED = 4, CLLAMA_TOKEN_UNUSED = 5, CLLAMA_TOKEN_BYTE = 6,
};
/* tokenizer.ggml.token_type of `id`, -1 for a bad id. */
int cllama_token_type(const cllama_model *model, int32_t id);

int32_t cllama_token_bos(const cllama_model *model);
int32_t cllama_token_eos(const cllama_model *model);
/* 1 if generation ends at `id` (EOS, <|eot_id|>, <|eom_id|>, ...). */
int cllama_token_is_eog(const cllama_model *model, int32_t id);

/* Streaming detokenizer: the text of generated tokens, handed out only as complete,
 * valid UTF-8. A character split across tokens is held back until its last byte
 * arrives; bytes that cannot form a character (an invalid or interrupted sequence)
 * come out as U+FFFD, one per maximal bad subsequence, as decoders of the Unicode
 * standard do. A plain struct: declare one, then cllama_detok_init. */
enum cllama_detok_flags {
    CLLAMA_DETOK_SPECIAL = 1, /* control tokens give their text ("<|im_end|>") instead of nothing */
};
typedef struct {
    const cllama_model *model;
    int flags;
    int n_pending;
    unsigned char pending[4];
} cllama_detok;

void cllama_detok_init(cllama_detok *d, const cllama_model *model, int flags);
/* Appends token `id`; writes the text now complete to buf (capacity cap, not
 * NUL-terminated) and returns its length (0 while a character is incomplete). The
 * text is at most 3 x (the token's piece + 3) bytes: 1024 fits any ordinary token.
 * CLLAMA_E_RANGE for a bad id or a buffer too small for this token (nothing consumed). */
int cllama_detok_push(cllama_detok *d, int32_t id, char *buf, int cap);
/* End of the stream: what is still held back, as U+FFFD (at most 3 bytes). */
int cllama_detok_flush(cllama_detok *d, char *buf, int cap);

/* ---- context: a KV cache shared by up to n_seq_max sequences ---- */

typedef struct {
    /* KV cells shared by all sequences (0: the model's training context, capped at
     * 4096). Each evaluated token holds one cell until its sequence drops it. */
    int n_ctx;
    int n_seq_max;  /* sequence ids 0 .. n_seq_max-1 (1..64; 0: 1) */
    int n_batch;    /* tokens per forward pass; longer batches run in several (0: 512,
                     * 64 with a pipe: the micro-batches that flow through the stages) */
    int n_threads;  /* threads of the context's own pool when threadpool is NULL (0: default) */
    cllama_threadpool *threadpool; /* a shared pool (not owned; must outlive the context) */
    /* Evaluate layers [layer_begin, layer_end) only (0, 0: all the model loaded). A
     * context that does not start at layer 0 takes hidden states (batch.embd) as
     * input; one that does not end at the last layer gives hidden states as output
     * (cllama_get_embeddings) and no logits. */
    int layer_begin, layer_end;
    /* Also keep the final hidden state (after output_norm) of output tokens. */
    int embeddings;
    /* Called between layers of an evaluation; non-zero stops it with
     * CLLAMA_E_ABORTED (see cllama_decode). */
    int (*abort_callback)(void *data);
    void *abort_data;
    /* Stage 0 of a pipeline (below): the other stages hold the layers after this
     * context's. NULL: this process evaluates every layer of the model. */
    const struct cllama_pipe *pipe;
} cllama_context_params;

cllama_context_params cllama_context_default_params(void);

int cllama_context_init(cllama_model *model, const cllama_context_params *params,
                        cllama_context **out);
void cllama_context_free(cllama_context *ctx);

/* Bytes a context with these params allocates for a model of these hyperparameters
 * (KV cache, activations, attention and output scratch), without allocating them. */
uint64_t cllama_context_bytes(const cllama_hparams *hp, const cllama_context_params *params);

int cllama_context_n_ctx(const cllama_context *ctx);
int cllama_context_n_seq_max(const cllama_context *ctx);
/* Threads the context computes on. */
int cllama_context_n_threads(const cllama_context *ctx);
void cllama_context_set_abort_callback(cllama_context *ctx, int (*fn)(void *data), void *data);

/* A batch: n_tokens entries of (token or hidden state, position, sequence, output?).
 * Optional arrays may be NULL:
 *   pos NULL     each token goes at its sequence's next position (highest + 1, or 0);
 *   seq_id NULL  every token is in sequence 0;
 *   output NULL  only the last token's output is kept.
 * Within a batch a sequence's positions must increase, and every position must lie
 * above what that sequence already holds. */
typedef struct {
    int n_tokens;
    const int32_t *token;  /* [n_tokens] ids, or NULL when embd is given */
    const float *embd;     /* [n_tokens][n_embd] hidden states entering layer_begin */
    const int32_t *pos;    /* [n_tokens] */
    const int32_t *seq_id; /* [n_tokens] */
    const int8_t *output;  /* [n_tokens] non-zero: keep this token's logits / hidden state */
} cllama_batch;

/* Evaluates the batch in one forward pass per n_batch tokens (every sequence in it
 * shares each read of the weights) and stores its tokens in the KV cache.
 * CLLAMA_E_RANGE if the tokens do not fit in the free cells, CLLAMA_E_INVALID for
 * bad ids, positions or sequence ids (nothing is evaluated then). CLLAMA_E_ABORTED
 * if the abort callback stopped it: the cache is then as before the call and the
 * context stays usable. Outputs of an earlier call are replaced. */
int cllama_decode(cllama_context *ctx, const cllama_batch *batch);
/* The same in two halves, so that a pipeline's stages work on several batches at once
 * (a server's groups of sequences: while the later stages evaluate one group's step,
 * stage 0 evaluates the next group's). cllama_decode_submit evaluates stage 0's
 * layers and sends the batch down; cllama_decode_collect waits for the oldest batch
 * submitted, whose outputs then read as after cllama_decode (until the next submit,
 * decode or collect). Up to cllama_context_max_inflight(ctx) batches may be in flight,
 * and no two of them may share a sequence; cllama_decode fails while any is, and KV
 * operations must leave the sequences in flight alone until collected. On a context that is not a pipeline's
 * stage 0 the limit is 1 and submit evaluates the whole batch. A submit that fails
 * needs no collect (batches submitted before it still do). */
int cllama_decode_submit(cllama_context *ctx, const cllama_batch *batch);
int cllama_decode_collect(cllama_context *ctx);
/* Batches in flight at most: the pipeline's stages (capped at 8), 1 without one. */
int cllama_context_max_inflight(const cllama_context *ctx);
/* Outputs of the last successful cllama_decode, for batch entry i (negative: counted
 * from the end of the batch); NULL if that entry's output was not kept. Logits:
 * n_vocab floats. Embeddings: n_embd floats, the hidden state leaving layer_end - 1
 * (after output_norm when layer_end is the last layer and params.embeddings is set). */
float *cllama_get_logits(cllama_context *ctx, int i);
float *cllama_get_embeddings(cllama_context *ctx, int i);
/* Sampling inside cllama_decode. With a sampler set for sequence `seq` (NULL: none
 * again), every output entry of that sequence gets its next token picked in
 * cllama_decode, as cllama_sampler_sample(smp, that entry's logits) would pick it (the
 * sampler's random state advances; cllama_sampler_accept stays the caller's), and
 * cllama_get_token returns it. This is where a pipeline samples: on its last stage,
 * which sends back the token instead of n_vocab logits (cllama_get_logits is then NULL
 * for such entries on stage 0). The sampler must stay alive while it is set. */
int cllama_set_sampler(cllama_context *ctx, int seq, cllama_sampler *smp);
/* The token cllama_decode sampled for batch entry i (negative: from the end), -1 if
 * that entry's sequence had no sampler or its output was not kept. */
int32_t cllama_get_token(cllama_context *ctx, int i);

/* KV cache per sequence. seq < 0 means every sequence; p1 < 0 means to the end. */
/* Drops positions [p0, p1) of `seq` (undo, edit, trim); cells no sequence holds are freed. */
int cllama_kv_seq_rm(cllama_context *ctx, int seq, int p0, int p1);
/* Makes `dst` hold src's positions [p0, p1) as they are (what dst held there is dropped
 * first). The cells are shared, not copied: a common prefix costs no evaluation and
 * no memory the second time. */
int cllama_kv_seq_cp(cllama_context *ctx, int src, int dst, int p0, int p1);
/* Every sequence forgets everything. */
void cllama_kv_clear(cllama_context *ctx);
/* Highest position `seq` holds, -1 if none. */
int cllama_kv_seq_pos_max(const cllama_context *ctx, int seq);
/* Cells in use (by any sequence). */
int cllama_kv_n_used(const cllama_context *ctx);

/* ---- pipeline: one model across processes, by layers ----
 * Stage s of n_stages loads a contiguous range of layers (model params layer_begin,
 * layer_end): stage 0 the first, with the token embedding, the last stage the last,
 * with the output head. The caller supplies the transport (ordered, reliable messages
 * between stages; MPI in the CLI). Stage 0 uses a context made with params.pipe as any
 * other: cllama_decode evaluates its layers and hands each micro-batch's hidden states
 * ([B][n_embd] floats) to stage 1 as soon as they are ready, so the stages work on
 * successive micro-batches at once; it returns when the last stage has sent back the
 * logits of the output rows (cllama_get_logits reads them; embeddings are not
 * returned). KV operations and context creation are carried out on every stage, in
 * order. A stage's failure (out of memory, ...) is reported by stage 0's call with that
 * stage's message, and that call's tokens are removed on every stage. The abort
 * callback is checked only on stage 0. The other stages run cllama_pipe_serve. */
typedef struct cllama_pipe {
    int stage, n_stages;
    /* Sends a message of n bytes to stage `to`, or receives the next message from
     * stage `from`, which is n bytes long (messages between two stages arrive in the
     * order sent, and each recv takes one whole send: an MPI message or bytes of a
     * stream); 0, or non-zero when the transport failed (the pipeline is then unusable). */
    int (*send)(void *data, int to, const void *buf, size_t n);
    int (*recv)(void *data, int from, void *buf, size_t n);
    void *data;
    /* Optional (NULL: none): called between layers on every stage, so a transport
     * whose send only starts a transfer (MPI's rendezvous needs both sides to call in)
     * can move it on while the stage computes, instead of holding up the next stage. */
    void (*progress)(void *data);
} cllama_pipe;

/* Stages 1..n-1: serves the contexts stage 0 creates, with `model` (this stage's
 * layers) and n_threads threads (0: the n_threads stage 0's context was given, else
 * this machine's default), until stage 0 calls cllama_pipe_end.
 * Returns 0 then, or the error that broke the transport. */
int cllama_pipe_serve(cllama_model *model, const cllama_pipe *pipe, int n_threads);
/* Stage 0: makes every other stage's cllama_pipe_serve return (after its contexts are
 * freed). 0, or non-zero if the transport failed. */
int cllama_pipe_end(const cllama_pipe *pipe);

/* ---- one-sequence convenience (sequence 0) ---- */

/* Positions sequence 0 holds (its highest + 1). */
int cllama_context_n_past(const cllama_context *ctx);
/* Forgets the KV cache (next eval starts at position 0). */
void cllama_context_reset(cllama_context *ctx);
/* Evaluates `n` tokens of sequence 0 in one batch at its next positions. If `logits`
 * is non-NULL it receives n_vocab floats per position (all_logits != 0: n rows, else
 * only the last position's row). */
int cllama_context_eval(cllama_context *ctx, const int32_t *tokens, int n, float *logits,
                        int all_logits);

/* ---- chat templates ---- */

/* Renders a conversation through a Jinja chat template as transformers'
 * apply_chat_template does (jinja2 with trim_blocks and lstrip_blocks; variables
 * messages, add_generation_prompt, bos_token, eos_token, tools = none,
 * documents = none; raise_exception, strftime_now, namespace, tojson), byte for byte.
 * The subset of Jinja real templates use is supported; anything else fails with
 * CLLAMA_E_UNSUPPORTED naming the construct, and a template that raises (e.g. on a
 * bad role order) fails with CLLAMA_E_INVALID and its message. */
typedef struct {
    const char *role;    /* "system", "user", "assistant", ... */
    const char *content; /* UTF-8; ill-formed bytes are rendered as U+FFFD */
} cllama_chat_message;

typedef struct {
    /* Jinja text; NULL: the model's tokenizer.chat_template, or the "chatml" built-in
     * when the model has none (as llama.cpp does). */
    const char *tmpl;
    int add_generation_prompt; /* end with the assistant's header (default 1) */
    const char *bos_token;     /* NULL: the text of the model's BOS token ("" without a model) */
    const char *eos_token;     /* NULL: likewise for EOS */
    int64_t now;               /* seconds since the epoch strftime_now sees, UTC (0: now) */
} cllama_chat_params;

cllama_chat_params cllama_chat_default_params(void);
/* Renders `n` messages into *out (malloc'd, NUL-terminated; release with cllama_free).
 * `model` may be NULL when params->tmpl is given. */
int cllama_chat_apply(const cllama_model *model, const cllama_chat_message *msgs, size_t n,
                      const cllama_chat_params *params, char **out);
/* The model's tokenizer.chat_template, NULL if it has none. */
const char *cllama_model_chat_template(const cllama_model *model);
/* A built-in template's text by name, NULL if unknown; the names, space-separated. */
const char *cllama_chat_builtin(const char *name);
const char *cllama_chat_builtin_names(void);
/* The family a template belongs to, from the markers it writes: "chatml", "llama2",
 * "llama3", "mistral", "zephyr", "phi3", "phi4", "gemma", "granite", "deepseek",
 * "olmo", else "custom" ("none" for NULL). */
const char *cllama_chat_template_family(const char *tmpl);
/* Releases memory the library allocated for the caller. */
void cllama_free(void *p);

/* ---- quantization: a model file into another file type ----
 * llama.cpp's file types and per-tensor recipes (which layers get more bits, output
 * and token_embd, fallbacks for rows that are not whole 256-value blocks), its block
 * formats and, for the K-quants, its scale search: the output has the tensor types
 * llama-quantize gives and loads in llama.cpp. Every metadata key is carried over;
 * general.file_type and general.quantization_version are set. */

typedef struct {
    const char *name;        /* the tensor */
    int index, count;        /* tensor index (0-based) of count */
    int n_dims;
    int64_t ne[4];           /* ne[0]: row length */
    const char *type_in, *type_out;
    uint64_t bytes_in, bytes_out;
    int fallback;            /* rows are not whole 256-value blocks: the recipe's type was swapped */
    int copied;              /* written as it was (never quantized, or already the type) */
} cllama_quantize_progress;

typedef struct {
    const char *type;        /* file type: "Q4_K_M", "Q8_0", "F16", ... (cllama_quantize_types) */
    int n_threads;           /* 0: physical cores */
    int allow_requantize;    /* quantized input tensors may be dequantized and quantized again */
    int pure;                /* every quantized matrix gets the file type's base type (no mix) */
    const char *output_tensor_type;   /* weight type for output.weight ("Q8_0", ...), NULL: the recipe's */
    const char *token_embedding_type; /* weight type for token_embd.weight, NULL: the recipe's */
    /* Called after each tensor is written, on the calling thread. */
    void (*progress)(const cllama_quantize_progress *p, void *data);
    void *progress_data;
} cllama_quantize_params;

typedef struct {
    int n_tensors, n_quantized, n_fallback;
    uint64_t n_params;             /* values in all tensors */
    uint64_t bytes_in, bytes_out;  /* tensor data */
    double seconds;
} cllama_quantize_stats;

cllama_quantize_params cllama_quantize_default_params(void);
/* The file types cllama makes, space-separated (static storage). */
const char *cllama_quantize_types(void);
/* Writes in_path quantized to out_path, a tensor at a time (peak memory about the
 * largest tensor as floats, not the model). Nothing is left at out_path on failure:
 * the file is written beside it and renamed when complete. A NaN or infinite input
 * value fails, naming the tensor. stats may be NULL. */
int cllama_quantize_file(const char *in_path, const char *out_path, const cllama_quantize_params *params,
                         cllama_quantize_stats *stats);
/* The same into memory: the input is the file in_path, or when in_path is NULL the
 * GGUF image in_buf (in_size bytes, not copied); *out (release with
 * cllama_quantize_free) is a GGUF image that cllama_model_load_buffer takes. */
int cllama_quantize_buffer(const char *in_path, const void *in_buf, size_t in_size, const cllama_quantize_params *params,
                           void **out, size_t *out_size, cllama_quantize_stats *stats);
void cllama_quantize_free(void *buf, size_t size);

/* ---- sampling ---- */

typedef struct {
    float temperature;    /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* tokens of history the penalties look at */
    uint64_t seed;
    /* OpenAI's penalties over the same window: logit -= frequency_penalty x count +
     * presence_penalty x (count > 0), per distinct token (0: off). */
    float presence_penalty;
    float frequency_penalty;
} cllama_sampler_params;

cllama_sampler_params cllama_sampler_default_params(void);

int cllama_sampler_init(const cllama_sampler_params *params, int n_vocab, cllama_sampler **out);
void cllama_sampler_free(cllama_sampler *s);
/* Records a token as part of the history (prompt or generated) for the repetition penalty. */
void cllama_sampler_accept(cllama_sampler *s, int32_t id);
/* Picks the next token from `logits` (n_vocab floats; may be modified). */
int32_t cllama_sampler_sample(cllama_sampler *s, float *logits);

#ifdef __cplusplus
}
#endif
#endif
