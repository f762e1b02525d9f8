/* UTF-8 streaming: bytes in, only complete and valid UTF-8 out. The public
 * detokenizer (cllama_detok_*) runs token pieces through it. */
#ifndef CL_DETOK_H
#define CL_DETOK_H

/* A character's first bytes held back until the rest arrives. */
typedef struct {
    unsigned char pending[4];
    int n_pending;
} cl_utf8_stream;

/* Appends `n` bytes; writes to `out` (capacity >= 3 (n + 3)) the text now complete
 * and returns its length. Well-formed characters pass unchanged; each maximal
 * subpart of an ill-formed sequence (Unicode 15, section 3.9, "U+FFFD substitution of
 * maximal subparts", which Python's decoder follows too) becomes U+FFFD; a valid prefix
 * cut by the end of the input is held back. */
int cl_utf8_stream_push(cl_utf8_stream *s, const char *in, int n, char *out);
/* End of stream: a held-back prefix becomes one U+FFFD (3 bytes), else nothing. */
int cl_utf8_stream_flush(cl_utf8_stream *s, char *out);

#endif
