/* Block-format bridge for tests/test_quant_ref.py:
 *   quant_dump deq TYPE IN OUT    raw blocks of TYPE -> float32 values (cl_dequantize_row)
 *   quant_dump quant TYPE IN OUT  float32 values -> raw blocks (cl_quantize_row)
 * TYPE is a ggml type name (Q4_0, Q6_K, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) free(p), p = NULL;
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s deq|quant TYPE IN OUT\n", argv[0]);
        return 2;
    }
    int type = -1;
    for (int t = 0; t < CL_TYPE_COUNT; t++)
        if (cl_type_info(t) && !strcmp(cl_type_info(t)->name, argv[2])) type = t;
    const cl_type_traits *tt = cl_type_info(type);
    if (!tt || !tt->weight) {
        fprintf(stderr, "unknown weight type %s\n", argv[2]);
        return 2;
    }
    size_t len;
    void *in = slurp(argv[3], &len);
    if (!in) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return 2;
    }
    int deq = !strcmp(argv[1], "deq");
    int64_t n = deq ? (int64_t)(len / tt->type_size) * tt->block_size : (int64_t)(len / 4);
    if ((deq && len % tt->type_size) || (!deq && (len % 4 || n % tt->block_size))) {
        fprintf(stderr, "%s: size %zu is not whole blocks of %s\n", argv[3], len, tt->name);
        return 2;
    }
    size_t out_len = deq ? (size_t)n * 4 : cl_row_size(type, n);
    void *out = malloc(out_len ? out_len : 1);
    if (deq) cl_dequantize_row(type, in, out, n);
    else if (cl_quantize_row(type, in, out, n)) {
        fprintf(stderr, "no quantizer for %s\n", tt->name);
        return 2;
    }
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(out, 1, out_len, f) != out_len || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", argv[4]);
        return 2;
    }
    free(in);
    free(out);
    return 0;
}
