/* Streaming detokenizer: token pieces through a UTF-8 validator that holds back an
 * incomplete character and replaces ill-formed bytes. */
#include "detok.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* Bytes of the sequence that lead byte c starts (0: c cannot start one) and the range
 * its second byte must fall in (the well-formed table of Unicode 15, table 3-7; the
 * narrow ranges exclude overlongs, surrogates and values above U+10FFFF). */
static int lead(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c == 0xE0) *lo = 0xA0;
    if (c == 0xED) *hi = 0x9F;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c == 0xF0) *lo = 0x90;
    if (c == 0xF4) *hi = 0x8F;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

int cl_utf8_stream_push(cl_utf8_stream *s, const char *in, int n, char *out) {
    int k = s->n_pending, total = k + (n > 0 ? n : 0), o = 0, i = 0;
#define AT(x) ((x) < k ? s->pending[x] : (unsigned char)in[(x) - k])
    s->n_pending = 0;
    while (i < total) {
        unsigned char c = AT(i), lo, hi;
        if (c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        int need = lead(c, &lo, &hi), j = 1;
        for (; j < need && i + j < total; j++) {
            unsigned char b = AT(i + j);
            if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) break;
        }
        if (need && j == need) {
            for (int t = 0; t < need; t++) out[o++] = (char)AT(i + t);
        } else if (need && i + j == total) {
            for (int t = 0; t < j; t++) s->pending[t] = AT(i + t);
            s->n_pending = j;
        } else {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
        }
        i += need ? j : 1;
    }
#undef AT
    return o;
}

int cl_utf8_stream_flush(cl_utf8_stream *s, char *out) {
    if (!s->n_pending) return 0;
    s->n_pending = 0;
    memcpy(out, REPLACEMENT, 3);
    return 3;
}

void cllama_detok_init(cllama_detok *d, const cllama_model *m, int flags) {
    memset(d, 0, sizeof *d);
    d->model = m;
    d->flags = flags;
}

/* The stream state lives in the public struct's pending bytes. */
static cl_utf8_stream load(const cllama_detok *d) {
    cl_utf8_stream s;
    memcpy(s.pending, d->pending, 4);
    s.n_pending = d->n_pending;
    return s;
}

int cllama_detok_push(cllama_detok *d, int32_t id, char *buf, int cap) {
    if (!d || !d->model || cap < 0 || (!buf && cap)) return cl_err(CLLAMA_E_INVALID, "cllama_detok_push: invalid arguments");
    const cllama_model *m = d->model;
    int len;
    const char *text = cllama_token_text(m, id, &len);
    if (!text) return cl_err(CLLAMA_E_RANGE, "token id %d is outside the vocabulary", id);
    char small[512], *piece = small;
    int k;
    if ((d->flags & CLLAMA_DETOK_SPECIAL) && cllama_token_type(m, id) == CLLAMA_TOKEN_CONTROL) {
        piece = (char *)text; /* the control token's own text, as stored */
        k = len;
    } else {
        /* A piece is never longer than the stored text plus a decoded prefix space. */
        if ((size_t)len + 8 > sizeof small && !(piece = malloc((size_t)len + 8)))
            return cl_err(CLLAMA_E_NOMEM, "out of memory");
        k = cllama_token_to_piece(m, id, piece, len + 8);
    }
    int rc = k;
    char *tmp = k >= 0 ? malloc(3 * ((size_t)k + 3)) : NULL;
    if (k >= 0 && !tmp) rc = cl_err(CLLAMA_E_NOMEM, "out of memory");
    if (tmp) {
        cl_utf8_stream s = load(d);
        rc = cl_utf8_stream_push(&s, piece, k, tmp);
        if (rc > cap) {
            rc = cl_err(CLLAMA_E_RANGE, "the text of token %d needs %d bytes, the buffer has %d", id, rc, cap);
        } else {
            memcpy(buf, tmp, (size_t)rc);
            memcpy(d->pending, s.pending, 4);
            d->n_pending = s.n_pending;
        }
    }
    free(tmp);
    if (piece != small && piece != text) free(piece);
    return rc;
}

int cllama_detok_flush(cllama_detok *d, char *buf, int cap) {
    if (!d || (!buf && cap)) return cl_err(CLLAMA_E_INVALID, "cllama_detok_flush: invalid arguments");
    if (d->n_pending && cap < 3) return cl_err(CLLAMA_E_RANGE, "cllama_detok_flush needs 3 bytes");
    cl_utf8_stream s = load(d);
    int w = cl_utf8_stream_flush(&s, buf);
    d->n_pending = 0;
    return w;
}
