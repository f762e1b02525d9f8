/* Broken model files give a clear error, never a crash: each case is built here from
 * a valid file (argv[1]) by truncating or patching bytes, written to a temp file and
 * loaded through the public API.
 *
 * usage: test_bad_models VALID.gguf TMPDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"
#include "gguf.h"
#include "need_data.h"

static unsigned char *buf;
static size_t len;
static const char *tmpdir;
static int fails;

/* Loads `data` from a temp file and expects failure with `code` and a message that
 * contains every one of the NULL-terminated `needles`. */
static void expect(const char *name, const unsigned char *data, size_t n, int code, const char **needles) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bad-%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        printf("FAIL %s: cannot write %s\n", name, path);
        fails++;
        return;
    }
    cllama_model *m = NULL;
    int rc = cllama_model_load(path, NULL, &m);
    const char *msg = cllama_last_error();
    int ok = rc == code && !m && !strchr(msg, '\n');
    for (const char **s = needles; *s; s++) ok = ok && strstr(msg, *s);
    printf("%s %s: rc %d, \"%s\"\n", ok ? "ok  " : "FAIL", name, rc, msg);
    if (!ok) fails++;
    cllama_model_free(m);
    remove(path);
}

/* Offset in buf of the tensor info's type field for `tensor`. */
static size_t type_field(const cl_gguf *g, const char *tensor) {
    const cl_gguf_tensor *t = cl_gguf_find_tensor(g, tensor);
    size_t name_end = (size_t)((const unsigned char *)t->name.ptr - buf) + t->name.len;
    return name_end + 4 + 8 * (size_t)t->n_dims;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VALID.gguf TMPDIR\n", argv[0]);
        return 2;
    }
    tmpdir = argv[2];
    if (data_missing(argv[1])) return TEST_SKIPPED;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(len);
    if (!buf || fread(buf, 1, len, f) != len) return 1;
    fclose(f);
    cl_gguf *g;
    if (cl_gguf_open_memory(buf, len, &g)) {
        fprintf(stderr, "valid file does not load: %s\n", cllama_last_error());
        return 1;
    }
    unsigned char *copy = malloc(len);

    /* Truncations: in the header, in the metadata, in the tensor infos, in the data. */
    size_t cuts[] = {10, 200, (size_t)cl_gguf_data_offset(g) - 40, len / 2, len - 1};
    const char *names[] = {"truncated-header", "truncated-metadata", "truncated-tensor-info",
                           "truncated-data-half", "truncated-data-last-byte"};
    for (int i = 0; i < 5; i++) {
        const char *any[] = {"GGUF", NULL};
        const char *past[] = {"past the end", NULL};
        expect(names[i], buf, cuts[i], CLLAMA_E_FORMAT, i == 0 ? any : past);
    }

    /* Unknown tensor type id. */
    memcpy(copy, buf, len);
    uint32_t bad_type = 99;
    memcpy(copy + type_field(g, "blk.1.ffn_up.weight"), &bad_type, 4);
    const char *type_msg[] = {"blk.1.ffn_up.weight", "99", "unsupported", NULL};
    expect("unknown-type", copy, len, CLLAMA_E_UNSUPPORTED, type_msg);

    /* A known type that is not a weight type (Q8_K is only an activation format):
     * the byte size check fails first or the loader refuses the type by name. */
    memcpy(copy, buf, len);
    uint32_t iq_type = 16; /* IQ2_XXS: a real ggml type this engine does not implement */
    memcpy(copy + type_field(g, "blk.0.attn_q.weight"), &iq_type, 4);
    const char *iq_msg[] = {"blk.0.attn_q.weight", NULL};
    expect("unimplemented-type", copy, len, CLLAMA_E_UNSUPPORTED, iq_msg);

    /* Missing tensor: rename one (same length, so the layout is unchanged). */
    memcpy(copy, buf, len);
    const cl_gguf_tensor *t = cl_gguf_find_tensor(g, "blk.1.ffn_down.weight");
    size_t off = (size_t)((const unsigned char *)t->name.ptr - buf);
    memcpy(copy + off, "blk.1.ffn_dowX.weight", t->name.len);
    const char *miss_msg[] = {"missing tensor blk.1.ffn_down.weight", NULL};
    expect("missing-tensor", copy, len, CLLAMA_E_FORMAT, miss_msg);

    /* Shape that disagrees with the metadata: patch n_ff (the rest of the metadata stays
     * self-consistent, so only the tensor shapes can catch it). */
    memcpy(copy, buf, len);
    const cl_gguf_kv *kv = cl_gguf_find(g, "llama.feed_forward_length");
    uint32_t e = 512;
    memcpy(copy + ((const unsigned char *)kv->data - buf), &e, 4);
    const char *shape_msg[] = {"shape", NULL};
    expect("shape-mismatch", copy, len, CLLAMA_E_FORMAT, shape_msg);

    cl_gguf_close(g);
    free(copy);
    free(buf);
    printf("%d failed\n", fails);
    return fails ? 1 : 0;
}
