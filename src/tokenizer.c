/* Vocabulary (tokenizer.ggml.* metadata) and the two tokenizers:
 *
 * - "llama": SentencePiece BPE by scores over the whole text fragment (spaces become
 *   U+2581, a dummy "▁" prefix is added), byte fallback to <0xNN>, else <unk>.
 * - "gpt2": the text is split into words by the pre-tokenizer regexes that
 *   tokenizer.ggml.pre selects (PCRE2, UTF + UCP, JIT when available), each word is
 *   mapped byte -> unicode char the GPT-2 way and merged by merge rank.
 *
 * All strings (token texts, plus merge operands that are not tokens) are interned
 * in one open-addressing hash table; a merge is a (left id, right id) -> (rank,
 * result id) entry in a second table, so BPE never builds strings while merging.
 * Behaviour follows llama.cpp (src/llama-vocab.cpp) where the two could differ. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { TT_UNDEF = 0, TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };
enum { VK_SPM = 1, VK_BPE = 2 };
/* PRE_LLAMA3: the pre-tokenizers whose words are looked up whole before merging
 * (ignore_merges) and that add BOS, as llama.cpp sets them. */
enum { PRE_NONE, PRE_OTHER, PRE_LLAMA3 };

#define MAX_TOKENS (1 << 24)
#define MAX_RE 6

typedef struct { uint32_t h, sid1; } hslot;              /* sid1 = string id + 1, 0 = empty */
typedef struct { uint64_t key; uint32_t rank, res; } mslot; /* key = (left+1) << 32 | (right+1) */

struct cl_vocab {
    int kind, pre_type, ignore_merges, add_bos, add_eos, add_space_prefix;
    int n_tokens;
    uint32_t n_merges;
    char model[16], pre[48];
    int32_t bos, eos, eot, eom, unk, pad;
    /* Interned strings: ids 0..n_tokens-1 are the tokens (in order, duplicates kept),
     * then merge operands/results that are not tokens. */
    char *arena;
    size_t arena_len, arena_cap;
    uint32_t *soff, *slen, *shash;
    uint32_t n_str, cap_str;
    hslot *ht;
    uint32_t ht_mask, ht_used;
    uint32_t max_token_len;
    float *scores;   /* NULL: all 0 */
    uint8_t *ttype;
    uint8_t *eog;
    char *pieces;    /* decoded bytes of every token, for cl_vocab_piece */
    uint32_t *poff;  /* n_tokens + 1 offsets into pieces */
    mslot *mt;
    uint32_t mt_mask;
    uint64_t *pairs;   /* llama: set of adjacent character pairs inside some token */
    uint32_t pairs_mask;
    int32_t byte_sid[256]; /* gpt2: string id of the unicode char byte b maps to, -1 if none */
    int32_t byte_tok[256]; /* llama: token <0xNN> for byte b, -1 if none */
    uint8_t map_utf8[256][3], map_len[256]; /* gpt2 byte -> unicode char (UTF-8) */
    int32_t *special;      /* control, user-defined and unknown tokens, longest first */
    int n_special;
    int32_t *eog_list;
    int n_eog;
    pcre2_code *re[MAX_RE];
    int n_re;
};

/* ---------------------------------------------------------------- hashing */

static uint32_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ k) * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
        p += 8;
        n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, p, n);
    h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return (uint32_t)h;
}

static inline const char *sptr(const cl_vocab *v, int32_t sid) { return v->arena + v->soff[sid]; }

/* Canonical id of a string (for tokens with duplicate text: the last one), or -1. */
static int32_t str_find_h(const cl_vocab *v, const char *p, size_t n, uint32_t h) {
    for (uint32_t i = h & v->ht_mask;; i = (i + 1) & v->ht_mask) {
        hslot s = v->ht[i];
        if (!s.sid1) return -1;
        if (s.h == h) {
            uint32_t sid = s.sid1 - 1;
            if (v->slen[sid] == n && !memcmp(sptr(v, (int32_t)sid), p, n)) return (int32_t)sid;
        }
    }
}

static int32_t str_find(const cl_vocab *v, const char *p, size_t n) {
    return str_find_h(v, p, n, hash_bytes(p, n));
}

static int ht_insert_slot(hslot *ht, uint32_t mask, uint32_t h, uint32_t sid1) {
    uint32_t i = h & mask;
    while (ht[i].sid1) i = (i + 1) & mask;
    ht[i].h = h;
    ht[i].sid1 = sid1;
    return 0;
}

static int ht_grow(cl_vocab *v) {
    uint32_t ncap = (v->ht_mask + 1) * 2;
    hslot *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (uint32_t i = 0; i <= v->ht_mask; i++)
        if (v->ht[i].sid1) ht_insert_slot(nt, ncap - 1, v->ht[i].h, v->ht[i].sid1);
    free(v->ht);
    v->ht = nt;
    v->ht_mask = ncap - 1;
    return 0;
}

/* Appends a string to the arena (not to the hash table). Returns its id or -1. */
static int32_t str_append(cl_vocab *v, const char *p, size_t n, uint32_t h) {
    if (v->n_str == v->cap_str) {
        uint32_t nc = v->cap_str ? v->cap_str * 2 : 1024;
        uint32_t *a = realloc(v->soff, nc * sizeof *a), *b, *c;
        if (!a) return -1;
        v->soff = a;
        if (!(b = realloc(v->slen, nc * sizeof *b))) return -1;
        v->slen = b;
        if (!(c = realloc(v->shash, nc * sizeof *c))) return -1;
        v->shash = c;
        v->cap_str = nc;
    }
    if (v->arena_len + n + 1 > v->arena_cap) {
        size_t nc = v->arena_cap ? v->arena_cap * 2 : 1 << 16;
        while (nc < v->arena_len + n + 1) nc *= 2;
        char *a = realloc(v->arena, nc);
        if (!a) return -1;
        v->arena = a;
        v->arena_cap = nc;
    }
    if (v->arena_len + n > UINT32_MAX) return -1;
    memcpy(v->arena + v->arena_len, p, n);
    v->arena[v->arena_len + n] = 0;
    v->soff[v->n_str] = (uint32_t)v->arena_len;
    v->slen[v->n_str] = (uint32_t)n;
    v->shash[v->n_str] = h;
    v->arena_len += n + 1;
    return (int32_t)v->n_str++;
}

/* Maps the text of string `sid` to `sid` in the hash table (a later token with the
 * same text replaces an earlier one, as in llama.cpp). */
static int ht_put(cl_vocab *v, int32_t sid) {
    uint32_t h = v->shash[sid];
    const char *p = sptr(v, sid);
    uint32_t n = v->slen[sid];
    for (uint32_t i = h & v->ht_mask;; i = (i + 1) & v->ht_mask) {
        hslot *s = &v->ht[i];
        if (!s->sid1) break;
        if (s->h == h && v->slen[s->sid1 - 1] == n && !memcmp(sptr(v, (int32_t)s->sid1 - 1), p, n)) {
            s->sid1 = (uint32_t)sid + 1;
            return 0;
        }
    }
    if ((v->ht_used + 1) * 2 > v->ht_mask + 1 && ht_grow(v)) return -1;
    ht_insert_slot(v->ht, v->ht_mask, h, (uint32_t)sid + 1);
    v->ht_used++;
    return 0;
}

/* Id of the string, adding it if new; -1 if out of memory. */
static int32_t intern(cl_vocab *v, const char *p, size_t n) {
    uint32_t h = hash_bytes(p, n);
    int32_t sid = str_find_h(v, p, n, h);
    if (sid >= 0) return sid;
    if ((sid = str_append(v, p, n, h)) < 0 || ht_put(v, sid)) return -1;
    return sid;
}

static inline uint32_t mhash(uint64_t key, uint32_t mask) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static const mslot *merge_find(const cl_vocab *v, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    for (uint32_t i = mhash(key, v->mt_mask);; i = (i + 1) & v->mt_mask) {
        const mslot *s = &v->mt[i];
        if (!s->key) return NULL;
        if (s->key == key) return s;
    }
}

static inline uint64_t pair_key(uint32_t c1, uint32_t c2) { return ((uint64_t)(c1 + 1) << 32) | (c2 + 1); }

static int pair_has(const cl_vocab *v, uint64_t key) {
    if (!v->pairs) return 1; /* no table (absurdly large vocabulary): never cut */
    for (uint32_t i = mhash(key, v->pairs_mask);; i = (i + 1) & v->pairs_mask) {
        if (!v->pairs[i]) return 0;
        if (v->pairs[i] == key) return 1;
    }
}

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the valid UTF-8 sequence at p (n > 0 bytes available), 0 if invalid. */
static int utf8_valid_len(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* A code for the character of `len` bytes at p (invalid bytes get codes past U+10FFFF). */
static uint32_t char_code(const uint8_t *p, int len) {
    if (len == 1) return p[0] < 0x80 ? p[0] : 0x110000u + p[0];
    uint32_t cp = p[0] & (0x7Fu >> len);
    for (int i = 1; i < len; i++) cp = (cp << 6) | (p[i] & 0x3Fu);
    return cp;
}

static int utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | (cp >> 6)); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    out[0] = (uint8_t)(0xE0 | (cp >> 12));
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
}

/* GPT-2 byte -> unicode mapping: printable Latin-1 bytes map to themselves, the
 * other 68 bytes to U+0100.. in byte order. */
static uint32_t gpt2_byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int k = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) k++;
    return 256u + (uint32_t)k;
}

/* ---------------------------------------------------------------- loading */

static int get_special_id(const cl_gguf *g, const char *key, int n_tokens, int32_t *id) {
    int64_t x;
    int rc = cl_gguf_get_i64(g, key, &x);
    if (rc < 0) return rc;
    if (rc == 0) return 0;
    if (x == -1 || x == UINT32_MAX) { /* the usual ways of writing "no such token" */
        *id = -1;
        return 0;
    }
    if (x < 0 || x >= n_tokens)
        return cl_err(CLLAMA_E_FORMAT, "%s = %lld is outside the vocabulary (%d tokens)", key, (long long)x, n_tokens);
    *id = (int32_t)x;
    return 0;
}

static const char *const RE_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
static const char *const RE_LLAMA3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* As Llama 3's with single digits (Qwen2's tokenizer.json) */
static const char *const RE_QWEN2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Qwen3.5's: combining marks join the letters */
static const char *const RE_QWEN35 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const RE_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"; /* CJK ideographs, Samaritan to CJK, Hangul */

/* tokenizer.ggml.pre values and the regexes that split text into words for them, each
 * applied in turn to the pieces the ones before left (the values and regexes are
 * llama.cpp's, llama-vocab.cpp, which takes them from each model's tokenizer.json). */
static const struct {
    const char *names; /* space-separated */
    int type;
    const char *re[MAX_RE];
} PRES[] = {
    {"default", PRE_OTHER, {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"gpt-2 gpt2 mpt phi-2 olmo", PRE_OTHER, {RE_GPT2}},
    {"llama-bpe llama3 llama-v3", PRE_LLAMA3, {RE_LLAMA3}},
    {"smollm starcoder refact command-r", PRE_OTHER, {"\\p{N}", RE_GPT2}},
    {"falcon", PRE_OTHER, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"qwen2 deepseek-r1-qwen", PRE_OTHER, {RE_QWEN2}},
    {"qwen35", PRE_OTHER, {RE_QWEN35}},
    /* code points escaped: an editor's normalization (U+1F7D to U+03CE) would put the
     * ranges out of order */
    {"deepseek-llm", PRE_OTHER,
     {"[\r\n]",
      "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
      "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
      "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
      "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
      "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-"
      "\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"
      "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f"
      "\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
      "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17"
      "\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb"
      "\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
      "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$", RE_CJK, "\\p{N}+"}},
    {"deepseek-coder", PRE_OTHER, {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}},
};

static int pre_index(const char *pre) {
    size_t len = strlen(pre);
    for (int i = 0; i < (int)(sizeof PRES / sizeof *PRES); i++)
        for (const char *n = PRES[i].names; *n;) {
            size_t k = strcspn(n, " ");
            if (k == len && !memcmp(n, pre, len)) return i;
            n += k + (n[k] == ' ');
        }
    return -1;
}

static int compile_regexes(cl_vocab *v) {
    int p = pre_index(v->pre);
    if (p < 0) return cl_err(CLLAMA_E_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not supported", v->pre);
    for (int i = 0; i < MAX_RE && PRES[p].re[i]; i++) {
        int err;
        PCRE2_SIZE off;
        /* DOLLAR_ENDONLY: "$" is the end of the piece, as in std::regex, not also before a final newline */
        v->re[i] = pcre2_compile((PCRE2_SPTR)PRES[p].re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off,
                                 NULL);
        if (!v->re[i]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(err, msg, sizeof msg);
            return cl_err(CLLAMA_E_UNSUPPORTED, "tokenizer.ggml.pre %s: regex does not compile: %s", v->pre, (char *)msg);
        }
        v->n_re = i + 1;
        pcre2_jit_compile(v->re[i], PCRE2_JIT_COMPLETE); /* optional: interpreter if it fails */
    }
    return 0;
}

static int pre_from_name(cl_vocab *v) {
    int p = pre_index(v->pre);
    if (p >= 0) {
        v->pre_type = PRES[p].type;
        return 0;
    }
    char known[512];
    size_t len = 0;
    for (size_t i = 0; i < sizeof PRES / sizeof *PRES && len < sizeof known; i++)
        len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? " " : "", PRES[i].names);
    return cl_err(CLLAMA_E_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not supported (known: %s)", v->pre, known);
}

typedef struct { uint32_t len; int32_t id; } len_id;

static int cmp_special(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int is_eog_text(const char *p, uint32_t n) {
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|eom_id|>", "<EOT>", "<|end_of_text|>"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && !memcmp(names[i], p, n)) return 1;
    return 0;
}

/* Decoded bytes of every token (what cl_vocab_piece returns). */
static int build_pieces(cl_vocab *v) {
    size_t cap = v->arena_len + 16, len = 0;
    if (!(v->pieces = malloc(cap)) || !(v->poff = malloc(((size_t)v->n_tokens + 1) * sizeof *v->poff)))
        return cl_err(CLLAMA_E_NOMEM, "out of memory building token pieces");
    /* gpt2: unicode char -> byte (the mapping covers U+0021..U+0143) */
    int16_t cp_byte[0x144];
    for (int i = 0; i < 0x144; i++) cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) cp_byte[gpt2_byte_cp(b)] = (int16_t)b;
    for (int id = 0; id < v->n_tokens; id++) {
        v->poff[id] = (uint32_t)len;
        const uint8_t *t = (const uint8_t *)sptr(v, id);
        size_t n = v->slen[id];
        int tt = v->ttype[id];
        char *o = v->pieces + len; /* every decoding is no longer than the text */
        size_t k = 0;
        if (tt == TT_USER) {
            memcpy(o, t, n);
            k = n;
        } else if (tt == TT_NORMAL && v->kind == VK_SPM) {
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && t[i] == 0xE2 && t[i + 1] == 0x96 && t[i + 2] == 0x81) o[k++] = ' ', i += 3;
                else o[k++] = (char)t[i++];
            }
        } else if (tt == TT_BYTE && v->kind == VK_SPM) {
            unsigned b;
            char tail;
            if (n == 6 && sscanf((const char *)t, "<0x%2x%c", &b, &tail) == 2 && tail == '>') o[k++] = (char)b;
        } else if (tt == TT_NORMAL) {
            for (size_t i = 0; i < n;) {
                int l = utf8_valid_len(t + i, n - i);
                if (!l) {
                    o[k++] = (char)t[i++];
                    continue;
                }
                uint32_t cp = l == 1 ? t[i] : l == 2 ? ((t[i] & 0x1Fu) << 6) | (t[i + 1] & 0x3Fu) : 0x10000;
                if (cp < 0x144 && cp_byte[cp] >= 0) o[k++] = (char)cp_byte[cp];
                else memcpy(o + k, t + i, (size_t)l), k += (size_t)l;
                i += (size_t)l;
            }
        }
        len += k;
    }
    v->poff[v->n_tokens] = (uint32_t)len;
    return 0;
}

/* Every pair of adjacent characters inside a token: SentencePiece never merges across
 * two characters that are not such a pair, so the text can be cut there and each
 * part merged on its own with the same result. */
static int build_pairs(cl_vocab *v) {
    uint64_t total = 0;
    for (int id = 0; id < v->n_tokens; id++) total += v->slen[id];
    if (total > (1u << 28)) return 0; /* no table: the text is merged in one piece */
    uint32_t cap = 1024;
    while (cap < total * 2) cap *= 2;
    if (!(v->pairs = calloc(cap, sizeof *v->pairs))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    v->pairs_mask = cap - 1;
    for (int id = 0; id < v->n_tokens; id++) {
        const uint8_t *t = (const uint8_t *)sptr(v, id);
        size_t n = v->slen[id];
        uint32_t prev = 0;
        for (size_t i = 0; i < n;) {
            int l = utf8_valid_len(t + i, n - i);
            if (!l) l = 1;
            uint32_t c = char_code(t + i, l);
            if (i) {
                uint64_t key = pair_key(prev, c);
                uint32_t j = mhash(key, v->pairs_mask);
                while (v->pairs[j] && v->pairs[j] != key) j = (j + 1) & v->pairs_mask;
                v->pairs[j] = key;
            }
            prev = c;
            i += (size_t)l;
        }
    }
    return 0;
}

static int load_merges(cl_vocab *v, const cl_gguf *g) {
    cl_str *m = NULL;
    uint64_t n = 0;
    int rc = cl_gguf_get_str_arr(g, "tokenizer.ggml.merges", &m, &n);
    if (rc < 0) return rc;
    if (rc == 0) return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.merges is missing (required for gpt2 vocabularies)");
    if (n > UINT32_MAX / 4) {
        free(m);
        return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.merges has %llu entries", (unsigned long long)n);
    }
    uint32_t cap = 1024;
    while (cap < n * 2) cap *= 2;
    v->mt = calloc(cap, sizeof *v->mt);
    v->mt_mask = cap - 1;
    char *buf = NULL;
    size_t bufcap = 0;
    if (!v->mt) goto nomem;
    for (uint64_t i = 0; i < n; i++) {
        const char *p = m[i].ptr;
        size_t len = (size_t)m[i].len;
        const char *sp = len > 1 ? memchr(p + 1, ' ', len - 1) : NULL;
        if (!sp || sp + 1 == p + len) continue; /* not "a b": never matches, as in llama.cpp */
        size_t la = (size_t)(sp - p), lb = len - la - 1;
        if (la + lb > bufcap) {
            bufcap = (la + lb) * 2;
            char *nb = realloc(buf, bufcap);
            if (!nb) goto nomem;
            buf = nb;
        }
        memcpy(buf, p, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t a = intern(v, p, la), b = intern(v, sp + 1, lb), r = intern(v, buf, la + lb);
        if (a < 0 || b < 0 || r < 0) goto nomem;
        uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
        uint32_t j = mhash(key, v->mt_mask);
        while (v->mt[j].key && v->mt[j].key != key) j = (j + 1) & v->mt_mask;
        if (v->mt[j].key) continue; /* a duplicate keeps its first (best) rank */
        v->mt[j].key = key;
        v->mt[j].rank = (uint32_t)i;
        v->mt[j].res = (uint32_t)r;
        v->n_merges++;
    }
    free(buf);
    free(m);
    return 0;
nomem:
    free(buf);
    free(m);
    return cl_err(CLLAMA_E_NOMEM, "out of memory loading tokenizer.ggml.merges");
}

static int vocab_load(const cl_gguf *g, cl_vocab *v) {
    int rc;
    cl_str s;
    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = -1;
    if ((rc = cl_gguf_get_str(g, "tokenizer.ggml.model", &s)) < 0) return rc;
    if (rc == 0) return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.model is missing");
    snprintf(v->model, sizeof v->model, "%.*s", (int)(s.len < 15 ? s.len : 15), s.ptr);
    if (cl_str_eq(s, "llama")) v->kind = VK_SPM;
    else if (cl_str_eq(s, "gpt2")) v->kind = VK_BPE;
    else
        return cl_err(CLLAMA_E_UNSUPPORTED, "tokenizer.ggml.model '%.*s' is not supported (llama, gpt2)",
                      (int)(s.len < 64 ? s.len : 64), s.ptr);

    cl_str *toks = NULL;
    uint64_t n = 0;
    if ((rc = cl_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &toks, &n)) < 0) return rc;
    if (rc == 0) return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.tokens is missing");
    if (n == 0 || n > MAX_TOKENS) {
        free(toks);
        return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.tokens has %llu entries (1..%d allowed)", (unsigned long long)n,
                      MAX_TOKENS);
    }
    v->n_tokens = (int)n;
    uint32_t cap = 1024;
    while (cap < n * 2) cap *= 2;
    v->ht = calloc(cap, sizeof *v->ht);
    v->ht_mask = cap - 1;
    if (!v->ht) {
        free(toks);
        return cl_err(CLLAMA_E_NOMEM, "out of memory loading tokenizer.ggml.tokens");
    }
    for (uint64_t i = 0; i < n; i++) {
        int32_t sid = str_append(v, toks[i].ptr, (size_t)toks[i].len, hash_bytes(toks[i].ptr, (size_t)toks[i].len));
        if (sid < 0 || (toks[i].len && ht_put(v, sid))) {
            free(toks);
            return cl_err(CLLAMA_E_NOMEM, "out of memory loading tokenizer.ggml.tokens");
        }
        if (toks[i].len > v->max_token_len) v->max_token_len = (uint32_t)toks[i].len;
    }
    free(toks);

    /* scores (optional, f32) and token types (optional, i32): one per token */
    int et;
    uint64_t an;
    const uint8_t *d;
    if ((rc = cl_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &an, &d)) < 0) return rc;
    if (rc) {
        if (et != CL_GGUF_F32) return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.scores is not an f32 array");
        if (an != n)
            return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.scores has %llu entries for %llu tokens",
                          (unsigned long long)an, (unsigned long long)n);
        if (!(v->scores = malloc(n * sizeof *v->scores))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
        memcpy(v->scores, d, n * sizeof *v->scores);
    }
    if (!(v->ttype = malloc(n)) || !(v->eog = calloc(n, 1))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    memset(v->ttype, TT_NORMAL, n);
    if ((rc = cl_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &an, &d)) < 0) return rc;
    if (rc) {
        if (et != CL_GGUF_I32 && et != CL_GGUF_U32)
            return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.token_type is not an i32 array");
        if (an != n)
            return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.token_type has %llu entries for %llu tokens",
                          (unsigned long long)an, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++) {
            int32_t t;
            memcpy(&t, d + 4 * i, 4);
            if (t < TT_UNDEF || t > TT_BYTE)
                return cl_err(CLLAMA_E_FORMAT, "tokenizer.ggml.token_type[%llu] = %d is not a token type (0..6)",
                              (unsigned long long)i, t);
            v->ttype[i] = (uint8_t)t;
        }
    }

    /* special ids and flags */
    if (v->kind == VK_SPM) v->unk = 0, v->bos = 1, v->eos = 2; /* SentencePiece defaults */
    if (v->n_tokens < 3) v->unk = v->bos = v->eos = -1;
    static const struct { const char *key; size_t off; } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(cl_vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(cl_vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(cl_vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(cl_vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(cl_vocab, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(cl_vocab, pad)},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if ((rc = get_special_id(g, ids[i].key, v->n_tokens, (int32_t *)((char *)v + ids[i].off)))) return rc;

    if (v->kind == VK_BPE) {
        if ((rc = cl_gguf_get_str(g, "tokenizer.ggml.pre", &s)) < 0) return rc;
        if (rc == 0) s.ptr = "default", s.len = 7;
        snprintf(v->pre, sizeof v->pre, "%.*s", (int)(s.len < 47 ? s.len : 47), s.ptr);
        if ((rc = pre_from_name(v))) return rc;
        v->ignore_merges = v->pre_type == PRE_LLAMA3;
        v->add_bos = v->pre_type == PRE_LLAMA3;
        v->add_space_prefix = 0;
    } else {
        snprintf(v->pre, sizeof v->pre, "(none)");
        v->pre_type = PRE_NONE;
        v->add_bos = 1;
        v->add_space_prefix = 1;
    }
    if ((rc = cl_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos)) < 0) return rc;
    if ((rc = cl_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos)) < 0) return rc;
    if ((rc = cl_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix)) < 0) return rc;
    if (v->add_bos && v->bos < 0) v->add_bos = 0;
    if (v->add_eos && v->eos < 0) v->add_eos = 0;

    /* byte tables */
    for (int b = 0; b < 256; b++) {
        v->byte_tok[b] = v->byte_sid[b] = -1;
        uint8_t u[4];
        v->map_len[b] = (uint8_t)utf8_encode(gpt2_byte_cp(b), u);
        memcpy(v->map_utf8[b], u, 3);
    }
    if (v->kind == VK_SPM) {
        for (int b = 0; b < 256; b++) {
            char t[8];
            snprintf(t, sizeof t, "<0x%02X>", b);
            v->byte_tok[b] = str_find(v, t, 6);
        }
    } else {
        if ((rc = load_merges(v, g))) return rc;
        for (int b = 0; b < 256; b++) v->byte_sid[b] = str_find(v, (const char *)v->map_utf8[b], v->map_len[b]);
        if ((rc = compile_regexes(v))) return rc;
    }

    /* special tokens (for matching in text), longest first */
    if (!(v->special = malloc(n * sizeof *v->special))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    for (int i = 0; i < v->n_tokens; i++) {
        int t = v->ttype[i];
        if ((t == TT_CONTROL || t == TT_USER || t == TT_UNKNOWN) && v->slen[i]) v->special[v->n_special++] = i;
    }
    len_id *li = malloc(((size_t)v->n_special + 1) * sizeof *li);
    if (!li) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    for (int k = 0; k < v->n_special; k++) li[k].len = v->slen[v->special[k]], li[k].id = v->special[k];
    qsort(li, (size_t)v->n_special, sizeof *li, cmp_special);
    for (int k = 0; k < v->n_special; k++) v->special[k] = li[k].id;
    free(li);

    /* end of generation: EOS, EOT, EOM and the well-known end-of-turn texts */
    for (int i = 0; i < v->n_tokens; i++)
        if ((v->ttype[i] == TT_CONTROL || v->ttype[i] == TT_USER) && is_eog_text(sptr(v, i), v->slen[i])) v->eog[i] = 1;
    if (v->eos >= 0) v->eog[v->eos] = 1;
    if (v->eot >= 0) v->eog[v->eot] = 1;
    if (v->eom >= 0) v->eog[v->eom] = 1;
    for (int i = 0; i < v->n_tokens; i++) v->n_eog += v->eog[i];
    if (!(v->eog_list = malloc(((size_t)v->n_eog + 1) * sizeof *v->eog_list))) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    for (int i = 0, k = 0; i < v->n_tokens; i++)
        if (v->eog[i]) v->eog_list[k++] = i;

    if (v->kind == VK_SPM && (rc = build_pairs(v))) return rc;
    return build_pieces(v);
}

int cl_vocab_load(const cl_gguf *g, cl_vocab **out) {
    *out = NULL;
    cl_vocab *v = calloc(1, sizeof *v);
    if (!v) return cl_err(CLLAMA_E_NOMEM, "out of memory loading the vocabulary");
    int rc = vocab_load(g, v);
    if (rc) {
        cl_vocab_free(v);
        return rc;
    }
    *out = v;
    return CLLAMA_OK;
}

void cl_vocab_free(cl_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    free(v->arena);
    free(v->soff);
    free(v->slen);
    free(v->shash);
    free(v->ht);
    free(v->scores);
    free(v->ttype);
    free(v->eog);
    free(v->pieces);
    free(v->poff);
    free(v->mt);
    free(v->pairs);
    free(v->special);
    free(v->eog_list);
    free(v);
}

/* ---------------------------------------------------------------- accessors */

int cl_vocab_n_tokens(const cl_vocab *v) { return v->n_tokens; }
int32_t cl_vocab_bos(const cl_vocab *v) { return v->bos; }
int32_t cl_vocab_eos(const cl_vocab *v) { return v->eos; }
int cl_vocab_add_bos(const cl_vocab *v) { return v->add_bos; }
int cl_vocab_is_eog(const cl_vocab *v, int32_t id) { return id >= 0 && id < v->n_tokens && v->eog[id]; }

int cl_vocab_token_type(const cl_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->ttype[id] : -1;
}

const char *cl_vocab_token_text(const cl_vocab *v, int32_t id, int *len) {
    if (id < 0 || id >= v->n_tokens) return NULL;
    *len = (int)v->slen[id];
    return sptr(v, id);
}

int cl_vocab_set_pre(cl_vocab *v, const char *pre) {
    if (v->kind != VK_BPE) return cl_err(CLLAMA_E_UNSUPPORTED, "set_pre: %s is not a gpt2 vocabulary", v->model);
    char old[sizeof v->pre];
    memcpy(old, v->pre, sizeof old);
    int old_type = v->pre_type;
    snprintf(v->pre, sizeof v->pre, "%s", pre);
    int rc = pre_from_name(v);
    if (rc) {
        memcpy(v->pre, old, sizeof old);
        v->pre_type = old_type;
        return rc;
    }
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    v->n_re = 0;
    v->ignore_merges = v->pre_type == PRE_LLAMA3;
    return compile_regexes(v);
}

static void print_tok(const cl_vocab *v, FILE *f, const char *name, int32_t id) {
    if (id < 0) return;
    fprintf(f, "%-17s%d '%.*s'\n", name, id, (int)(v->slen[id] < 64 ? v->slen[id] : 64), sptr(v, id));
}

void cl_vocab_print(const cl_vocab *v, FILE *f) {
    if (v->kind == VK_SPM)
        fprintf(f, "%-17s%s (SentencePiece BPE by score, byte fallback)\n", "tokenizer:", v->model);
    else
        fprintf(f, "%-17s%s (byte-level BPE, pre-tokenizer %s)\n", "tokenizer:", v->model, v->pre);
    fprintf(f, "%-17s%d\n", "vocab tokens:", v->n_tokens);
    if (v->kind == VK_BPE) fprintf(f, "%-17s%u\n", "vocab merges:", v->n_merges);
    print_tok(v, f, "bos token:", v->bos);
    print_tok(v, f, "eos token:", v->eos);
    print_tok(v, f, "eot token:", v->eot);
    print_tok(v, f, "eom token:", v->eom);
    print_tok(v, f, "unknown token:", v->unk);
    print_tok(v, f, "padding token:", v->pad);
    fprintf(f, "%-17s%s\n", "add bos:", v->add_bos ? "yes" : "no");
    fprintf(f, "%-17s%s\n", "add eos:", v->add_eos ? "yes" : "no");
    fprintf(f, "%-17s", "eog tokens:");
    for (int i = 0; i < v->n_eog && i < 16; i++) fprintf(f, "%s%d", i ? " " : "", v->eog_list[i]);
    fprintf(f, "%s\n", v->n_eog > 16 ? " ..." : "");
}

int cl_vocab_piece(const cl_vocab *v, int32_t id, char *buf, int cap) {
    if (!v || id < 0 || id >= v->n_tokens)
        return cl_err(CLLAMA_E_RANGE, "token id %d is outside the vocabulary (%d tokens)", id, v ? v->n_tokens : 0);
    uint32_t n = v->poff[id + 1] - v->poff[id];
    if (cap < 0 || (!buf && cap) || (uint32_t)cap < n)
        return cl_err(CLLAMA_E_RANGE, "piece of token %d needs %u bytes, buffer has %d", id, n, cap);
    if (n) memcpy(buf, v->pieces + v->poff[id], n);
    return (int)n;
}

/* ---------------------------------------------------------------- tokenizing */

typedef struct { int32_t *ids; int cap, n; } tokout;

static inline void emit(tokout *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* Scratch for one tokenize call (grown as needed, freed at the end). */
typedef struct {
    int32_t *sid, *prev, *next;
    uint32_t *start, *len;
    size_t sym_cap;
    void *heap;
    size_t heap_n, heap_cap;
    char *buf;
    size_t buf_cap;
    uint8_t *norm, *match; /* a BPE fragment as code points re-encoded; the same for the regex */
    size_t norm_cap;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
} scratch;

static int sym_reserve(scratch *s, size_t n) {
    if (n <= s->sym_cap) return 0;
    size_t c = n + n / 2 + 16;
    void *p;
    if (!(p = realloc(s->sid, c * 4))) return -1;
    s->sid = p;
    if (!(p = realloc(s->prev, c * 4))) return -1;
    s->prev = p;
    if (!(p = realloc(s->next, c * 4))) return -1;
    s->next = p;
    if (!(p = realloc(s->start, c * 4))) return -1;
    s->start = p;
    if (!(p = realloc(s->len, c * 4))) return -1;
    s->len = p;
    s->sym_cap = c;
    return 0;
}

static int heap_reserve(scratch *s, size_t elem) {
    if (s->heap_n < s->heap_cap) return 0;
    size_t c = s->heap_cap ? s->heap_cap * 2 : 256;
    void *p = realloc(s->heap, c * elem);
    if (!p) return -1;
    s->heap = p;
    s->heap_cap = c;
    return 0;
}

static int buf_reserve(scratch *s, size_t n) {
    if (n <= s->buf_cap) return 0;
    char *p = realloc(s->buf, n + n / 2 + 64);
    if (!p) return -1;
    s->buf = p;
    s->buf_cap = n + n / 2 + 64;
    return 0;
}

static void scratch_free(scratch *s) {
    free(s->sid);
    free(s->prev);
    free(s->next);
    free(s->start);
    free(s->len);
    free(s->heap);
    free(s->buf);
    if (s->md) pcre2_match_data_free(s->md);
    if (s->mctx) pcre2_match_context_free(s->mctx);
    if (s->jstack) pcre2_jit_stack_free(s->jstack);
    free(s->norm);
    free(s->match);
}

/* ---- SentencePiece: best-score bigram first, ties to the leftmost ---- */

typedef struct { float score; int32_t l, r; uint32_t size; } spm_bigram;

static inline int spm_better(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->l < b->l);
}

static int spm_push(scratch *s, spm_bigram x) {
    if (heap_reserve(s, sizeof x)) return -1;
    spm_bigram *h = s->heap;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!spm_better(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
    return 0;
}

static spm_bigram spm_pop(scratch *s) {
    spm_bigram *h = s->heap, top = h[0], x = h[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && spm_better(&h[c + 1], &h[c])) c++;
        if (!spm_better(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = x;
    return top;
}

static int spm_try(const cl_vocab *v, scratch *s, const char *t, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return 0;
    uint32_t size = s->len[l] + s->len[r];
    if (size > v->max_token_len) return 0;
    int32_t id = str_find(v, t + s->start[l], size);
    if (id < 0 || id >= v->n_tokens) return 0;
    spm_bigram b = {v->scores ? v->scores[id] : 0.0f, l, r, size};
    return spm_push(s, b);
}

static int spm_fragment(const cl_vocab *v, scratch *s, tokout *o, const char *text, size_t len, int prefix) {
    /* escape: dummy prefix, ' ' -> U+2581 */
    if (buf_reserve(s, 3 * len + 3)) return -1;
    char *t = s->buf;
    size_t n = 0;
    if (prefix) memcpy(t, "\xe2\x96\x81", 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(t + n, "\xe2\x96\x81", 3), n += 3;
        else t[n++] = text[i];
    }
    if (sym_reserve(s, n)) return -1;
    int32_t ns = 0;
    uint32_t prevc = 0;
    for (size_t i = 0; i < n;) {
        /* Symbols as llama.cpp cuts them: the length its lead byte announces (1 for
         * ASCII and stray continuation bytes, 2 for C0-DF, 3 for E0-EF, 4 for F0-FF),
         * whatever follows. Valid text is cut into its characters; in invalid text this
         * takes the following bytes along, and a symbol that is no token falls back to
         * its bytes, as the reference does. */
        static const uint8_t lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
        int l = lead_len[(uint8_t)t[i] >> 4];
        if ((size_t)l > n - i) l = (int)(n - i);
        uint32_t c = utf8_valid_len((const uint8_t *)t + i, (size_t)l) == l ? char_code((const uint8_t *)t + i, l)
                                                                             : 0x110000u + (uint8_t)t[i];
        s->sid[ns] = ns == 0 || !pair_has(v, pair_key(prevc, c)); /* 1: a part starts here */
        s->start[ns] = (uint32_t)i;
        s->len[ns] = (uint32_t)l;
        prevc = c;
        ns++;
        i += (size_t)l;
    }
    /* each part between cuts is merged on its own (see build_pairs) */
    for (int32_t a = 0, b; a < ns; a = b) {
        for (b = a + 1; b < ns && !s->sid[b]; b++) {}
        for (int32_t i = a; i < b; i++) s->prev[i] = i - 1, s->next[i] = i + 1;
        s->prev[a] = -1;
        s->next[b - 1] = -1;
        s->heap_n = 0;
        for (int32_t i = a + 1; i < b; i++)
            if (spm_try(v, s, t, i - 1, i)) return -1;
        while (s->heap_n) {
            spm_bigram g = spm_pop(s);
            uint32_t *L = s->len;
            if (!L[g.l] || !L[g.r] || L[g.l] + L[g.r] != g.size) continue;
            L[g.l] += L[g.r];
            L[g.r] = 0;
            s->next[g.l] = s->next[g.r];
            if (s->next[g.r] >= 0) s->prev[s->next[g.r]] = g.l;
            if (spm_try(v, s, t, s->prev[g.l], g.l) || spm_try(v, s, t, g.l, s->next[g.l])) return -1;
        }
        for (int32_t i = a; i != -1; i = s->next[i]) {
            const char *p = t + s->start[i];
            int32_t id = s->len[i] <= v->max_token_len ? str_find(v, p, s->len[i]) : -1;
            if (id >= 0 && id < v->n_tokens) {
                emit(o, id);
                continue;
            }
            /* not in the vocabulary: its bytes as <0xNN>, else one unknown token */
            int all = 1;
            for (uint32_t k = 0; k < s->len[i]; k++) all &= v->byte_tok[(uint8_t)p[k]] >= 0;
            if (all)
                for (uint32_t k = 0; k < s->len[i]; k++) emit(o, v->byte_tok[(uint8_t)p[k]]);
            else if (v->unk >= 0)
                emit(o, v->unk);
        }
    }
    return 0;
}

/* ---- byte-level BPE: lowest merge rank first, ties to the leftmost ---- */

typedef struct { uint32_t rank; int32_t l, r, a, b, res; } bpe_bigram;

static inline int bpe_better(const bpe_bigram *x, const bpe_bigram *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->l < y->l);
}

static int bpe_push(scratch *s, bpe_bigram x) {
    if (heap_reserve(s, sizeof x)) return -1;
    bpe_bigram *h = s->heap;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bpe_better(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
    return 0;
}

static bpe_bigram bpe_pop(scratch *s) {
    bpe_bigram *h = s->heap, top = h[0], x = h[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bpe_better(&h[c + 1], &h[c])) c++;
        if (!bpe_better(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = x;
    return top;
}

static int bpe_try(const cl_vocab *v, scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return 0;
    int32_t a = s->sid[l], b = s->sid[r];
    if (a < 0 || b < 0) return 0;
    const mslot *m = merge_find(v, a, b);
    if (!m) return 0;
    bpe_bigram x = {m->rank, l, r, a, b, (int32_t)m->res};
    return bpe_push(s, x);
}

/* A symbol the vocabulary lacks: its bytes' tokens, and nothing for a byte that has no
 * token. The reference drops such bytes; emitting the unknown token instead would put a
 * control token into plain text where the unknown id is one (SmolLM2: byte 0x14 has no
 * token and id 0 is <|endoftext|>). */
static void bpe_fallback(const cl_vocab *v, tokout *o, const uint8_t *w, size_t n) {
    for (size_t k = 0; k < n; k++) {
        int32_t id = v->byte_sid[w[k]];
        if (id >= 0 && id < v->n_tokens) emit(o, id);
    }
}

static int bpe_word(const cl_vocab *v, scratch *s, tokout *o, const uint8_t *w, size_t n) {
    if (!n) return 0;
    if (n == 1 || v->ignore_merges) {
        int32_t id;
        if (n == 1) {
            id = v->byte_sid[w[0]];
        } else {
            if (buf_reserve(s, 3 * n)) return -1;
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                memcpy(s->buf + k, v->map_utf8[w[i]], 3);
                k += v->map_len[w[i]];
            }
            id = k <= v->max_token_len ? str_find(v, s->buf, k) : -1;
        }
        if (id >= 0 && id < v->n_tokens) {
            emit(o, id);
            return 0;
        }
        if (n == 1) {
            bpe_fallback(v, o, w, 1);
            return 0;
        }
    }
    if (n > INT32_MAX || sym_reserve(s, n)) return -1;
    int32_t ns = (int32_t)n;
    for (int32_t i = 0; i < ns; i++) {
        s->sid[i] = v->byte_sid[w[i]];
        s->len[i] = 1;
        s->prev[i] = i - 1;
        s->next[i] = i + 1;
    }
    s->next[ns - 1] = -1;
    s->heap_n = 0;
    for (int32_t i = 1; i < ns; i++)
        if (bpe_try(v, s, i - 1, i)) return -1;
    while (s->heap_n) {
        bpe_bigram b = bpe_pop(s);
        if (!s->len[b.l] || !s->len[b.r] || s->next[b.l] != b.r || s->sid[b.l] != b.a || s->sid[b.r] != b.b) continue;
        s->sid[b.l] = b.res;
        s->len[b.l] += s->len[b.r];
        s->len[b.r] = 0;
        s->next[b.l] = s->next[b.r];
        if (s->next[b.r] >= 0) s->prev[s->next[b.r]] = b.l;
        if (bpe_try(v, s, s->prev[b.l], b.l) || bpe_try(v, s, b.l, s->next[b.l])) return -1;
    }
    for (int32_t i = 0; i != -1; i = s->next[i]) {
        if (s->sid[i] >= 0 && s->sid[i] < v->n_tokens) emit(o, s->sid[i]);
        else bpe_fallback(v, o, w + i, s->len[i]); /* symbol i starts at byte i */
    }
    return 0;
}

/* Splits [p, p+n) with regex `level`: matches and the gaps between them are both
 * pieces (as llama.cpp does), each split further by the next regex, then BPE'd. The
 * regex runs on p; the bytes BPE'd are the same span of b (b differs from p only where
 * bpe_normalize put a stand-in for a surrogate). */
static int bpe_split(const cl_vocab *v, scratch *s, tokout *o, int level, const char *p, const char *b, size_t n) {
    if (!n) return 0;
    if (level == v->n_re) return bpe_word(v, s, o, (const uint8_t *)b, n);
    size_t off = 0, done = 0;
    while (off < n) {
        int rc = pcre2_match(v->re[level], (PCRE2_SPTR)p, n, off, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !s->jstack) {
            if (!(s->jstack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL))) return -1;
            pcre2_jit_stack_assign(s->mctx, NULL, s->jstack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return cl_err(CLLAMA_E_INVALID, "tokenizer: pre-tokenizer regex failed: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match (none of the patterns has one): step past it */
            off = ms + 1;
            while (off < n && ((uint8_t)p[off] & 0xC0) == 0x80) off++;
            continue;
        }
        int e;
        if (ms > done && (e = bpe_split(v, s, o, level + 1, p + done, b + done, ms - done))) return e;
        if ((e = bpe_split(v, s, o, level + 1, p + ms, b + ms, me - ms))) return e;
        done = off = me;
    }
    return done < n ? bpe_split(v, s, o, level + 1, p + done, b + done, n - done) : 0;
}

/* Text as llama.cpp reads it before the pre-tokenizer (unicode_cpts_from_utf8): a lead
 * byte announces 1 to 4 bytes and those must be continuations; nothing else is checked,
 * so overlong forms and surrogates pass as the values they spell. A byte where that
 * fails becomes U+FFFD and reading goes on at the next byte: the replacement the
 * reference makes, and no byte of plain text is left without a token. Values above
 * U+10FFFF (which the reference cannot encode back; it aborts) become U+FFFD too.
 * out gets the code points re-encoded (at most 3 bytes per input byte); match the same
 * with each surrogate replaced by a private-use character of the same length, so PCRE2
 * can run the pre-tokenizer over it and classify it as the reference does (neither
 * letter, digit nor space). Returns the length of both. */
static size_t bpe_normalize(const uint8_t *in, size_t n, uint8_t *out, uint8_t *match) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = in[i];
        int len = c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 0;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
        for (int j = 1; j < len; j++) {
            if (i + (size_t)j >= n || (in[i + j] & 0xC0) != 0x80) {
                len = 0;
                break;
            }
            cp = cp << 6 | (in[i + j] & 0x3Fu);
        }
        if (!len || cp > 0x10FFFF) {
            cp = 0xFFFD;
            len = 1;
        }
        i += (size_t)len;
        uint8_t e[4];
        int el;
        if (cp < 0x80) e[0] = (uint8_t)cp, el = 1;
        else if (cp < 0x800) e[0] = (uint8_t)(0xC0 | cp >> 6), e[1] = (uint8_t)(0x80 | (cp & 0x3F)), el = 2;
        else if (cp < 0x10000)
            e[0] = (uint8_t)(0xE0 | cp >> 12), e[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), e[2] = (uint8_t)(0x80 | (cp & 0x3F)),
            el = 3;
        else
            e[0] = (uint8_t)(0xF0 | cp >> 18), e[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
            e[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), e[3] = (uint8_t)(0x80 | (cp & 0x3F)), el = 4;
        memcpy(out + k, e, (size_t)el);
        if (cp >= 0xD800 && cp <= 0xDFFF) { /* U+E000 + the same offset: EE 80..9F xx */
            uint32_t pu = 0xE000 + (cp - 0xD800);
            e[0] = (uint8_t)(0xE0 | pu >> 12), e[1] = (uint8_t)(0x80 | (pu >> 6 & 0x3F)), e[2] = (uint8_t)(0x80 | (pu & 0x3F));
        }
        memcpy(match + k, e, (size_t)el);
        k += (size_t)el;
    }
    return k;
}

/* ---- special tokens: llama.cpp's order (longest token first; each token takes its
 * leftmost non-overlapping occurrences in the text not yet claimed) ---- */

typedef struct { size_t pos; int32_t rank; } occ;

static int cmp_occ(const void *a, const void *b) {
    const occ *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_claim(const void *a, const void *b) {
    const occ *x = a, *y = b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Finds the special tokens to honour in the text. *claims (malloc'd, by position) get
 * rank = index into v->special. */
static int find_specials(const cl_vocab *v, const char *text, size_t len, int all, occ **claims, size_t *nclaims) {
    *claims = NULL;
    *nclaims = 0;
    uint8_t first[256] = {0};
    int any = 0;
    for (int k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        if (all || v->ttype[id] == TT_USER) first[(uint8_t)sptr(v, id)[0]] = 1, any = 1;
    }
    if (!any) return 0;
    occ *oc = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < len; i++) {
        if (!first[(uint8_t)text[i]]) continue;
        for (int k = 0; k < v->n_special; k++) {
            int32_t id = v->special[k];
            uint32_t l = v->slen[id];
            if (l > len - i || (!all && v->ttype[id] != TT_USER)) continue;
            const char *t = sptr(v, id);
            if (t[0] != text[i] || memcmp(t, text + i, l)) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                occ *p = realloc(oc, cap * sizeof *oc);
                if (!p) {
                    free(oc);
                    return -1;
                }
                oc = p;
            }
            oc[n].pos = i;
            oc[n].rank = k;
            n++;
        }
    }
    if (!n) return 0;
    qsort(oc, n, sizeof *oc, cmp_occ);
    uint8_t *taken = calloc(len, 1);
    if (!taken) {
        free(oc);
        return -1;
    }
    size_t kept = 0, last_end = 0;
    int32_t last_rank = -1;
    for (size_t j = 0; j < n; j++) {
        uint32_t l = v->slen[v->special[oc[j].rank]];
        if (oc[j].rank != last_rank) last_rank = oc[j].rank, last_end = 0;
        if (oc[j].pos < last_end) continue;
        int free_span = 1;
        for (uint32_t k = 0; k < l && free_span; k++) free_span = !taken[oc[j].pos + k];
        if (!free_span) continue;
        memset(taken + oc[j].pos, 1, l);
        last_end = oc[j].pos + l;
        oc[kept++] = oc[j];
    }
    free(taken);
    qsort(oc, kept, sizeof *oc, cmp_claim);
    *claims = oc;
    *nclaims = kept;
    return 0;
}

static int raw_fragment(const cl_vocab *v, scratch *s, tokout *o, const char *p, size_t n, int prev_special) {
    if (v->kind == VK_SPM) {
        if (!n) return 0;
        return spm_fragment(v, s, o, p, n, v->add_space_prefix && prev_special);
    }
    if (3 * n > s->norm_cap) {
        uint8_t *a = realloc(s->norm, 3 * n), *b = realloc(s->match, 3 * n);
        if (a) s->norm = a;
        if (b) s->match = b;
        if (!a || !b) return -1;
        s->norm_cap = 3 * n;
    }
    size_t k = bpe_normalize((const uint8_t *)p, n, s->norm, s->match);
    return bpe_split(v, s, o, 0, (const char *)s->match, (const char *)s->norm, k);
}

int cl_vocab_tokenize(const cl_vocab *v, const char *text, size_t len, int flags, int32_t *ids, int cap) {
    if (!v || (!text && len) || cap < 0 || (!ids && cap))
        return cl_err(CLLAMA_E_INVALID, "tokenize: invalid arguments");
    if (len > (size_t)(INT32_MAX / 2 - 8))
        return cl_err(CLLAMA_E_INVALID, "tokenize: text of %zu bytes is too long", len);
    tokout o = {ids, cap, 0};
    scratch s = {0};
    occ *claims = NULL;
    size_t nclaims = 0;
    int rc = 0;
    if (v->kind == VK_BPE) {
        if (!(s.md = pcre2_match_data_create(4, NULL)) || !(s.mctx = pcre2_match_context_create(NULL))) goto nomem;
    }
    if (find_specials(v, text, len, (flags & CLLAMA_TOKENIZE_SPECIAL) != 0, &claims, &nclaims)) goto nomem;
    if ((flags & CLLAMA_TOKENIZE_ADD_BOS) && v->add_bos) emit(&o, v->bos);
    int prev_special = 1; /* the text start counts as after a special token (dummy prefix) */
    size_t at = 0;
    for (size_t j = 0; j <= nclaims && rc == 0; j++) {
        size_t end = j < nclaims ? claims[j].pos : len;
        if (end > at) {
            rc = raw_fragment(v, &s, &o, text + at, end - at, prev_special);
            prev_special = 0;
        }
        if (j < nclaims) {
            int32_t id = v->special[claims[j].rank];
            emit(&o, id);
            at = end + v->slen[id];
            prev_special = 1;
        }
    }
    if (rc == 0 && (flags & CLLAMA_TOKENIZE_ADD_BOS) && v->add_eos) emit(&o, v->eos);
    free(claims);
    scratch_free(&s);
    if (rc == -1) return cl_err(CLLAMA_E_NOMEM, "tokenize: out of memory");
    return rc < 0 ? rc : o.n;
nomem:
    free(claims);
    scratch_free(&s);
    return cl_err(CLLAMA_E_NOMEM, "tokenize: out of memory");
}
