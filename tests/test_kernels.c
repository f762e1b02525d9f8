/* Dot kernels against their references, for every weight type and every kernel set
 * this build and CPU have.
 *
 * For random valid weight rows (random bytes, f16 scale fields set to finite values)
 * and random activations:
 *  1. the scalar kernel equals cl_dequantize_row(w) . dequantized activation (double),
 *     within float rounding, and the true float dot within the q8 rounding bound
 *     sum |w| * d_a / 2;
 *  2. the scalar kernel gives the same result for a tile of nt rows as row by row;
 *  3. each SIMD set agrees with the scalar kernel for nt in {1, 3, 4, 7};
 *  4. each SIMD 8-row kernel (gemm8, gemm8x) and 16-row kernel (gemm16x) agrees with
 *     the scalar dot of each of its rows, rows as stored (odd stride and address) and
 *     interleaved as repack.c stores them, and writes nothing outside its outputs;
 *  5. each SIMD activation quantizer writes the scalar one's bytes;
 *  6. each SIMD attention value kernel (axpy_f16) agrees with the scalar one for
 *     1..9 output rows and head sizes that are and are not multiples of the width.
 * "SIMD set" is every set of sets.def this build has and this CPU runs; the others are
 * named with the reason they were skipped.
 * Errors are relative to sum |w| |a|. Exits 1 naming the type and set on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dispatch.h"
#include "quant/interleave.h"
#include "quant/quant.h"

#define NT_MAX 7
#define MAX_SETS 16
#define TRIALS 24

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() & 0xFFFFFF) / 16777216.0f; }

/* Byte offsets of the f16 scale fields in each block type. */
static int scale_fields(int type, int *off) {
    switch (type) {
    case CL_TYPE_Q4_0: case CL_TYPE_Q5_0: case CL_TYPE_Q8_0: off[0] = 0; return 1;
    case CL_TYPE_Q4_1: case CL_TYPE_Q5_1: case CL_TYPE_Q4_K: case CL_TYPE_Q5_K: off[0] = 0, off[1] = 2; return 2;
    case CL_TYPE_Q2_K: off[0] = 80, off[1] = 82; return 2;
    case CL_TYPE_Q3_K: off[0] = 108; return 1;
    case CL_TYPE_Q6_K: off[0] = 208; return 1;
    default: return 0;
    }
}

static void random_row(int type, uint8_t *w, int64_t n) {
    const cl_type_traits *tt = cl_type_info(type);
    if (type == CL_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) {
            float f = uniform(-1, 1);
            memcpy(w + 4 * i, &f, 4);
        }
        return;
    }
    if (type == CL_TYPE_F16 || type == CL_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++)
            cl_wr16(w + 2 * i, type == CL_TYPE_F16 ? cl_f32_to_f16(uniform(-2, 2)) : cl_f32_to_bf16(uniform(-2, 2)));
        return;
    }
    size_t bytes = cl_row_size(type, n);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd();
    int off[2], nf = scale_fields(type, off);
    for (int64_t b = 0; b < n / tt->block_size; b++)
        for (int f = 0; f < nf; f++) {
            float v = uniform(1e-3f, 0.5f) * (rnd() & 1 ? -1.0f : 1.0f);
            cl_wr16(w + b * tt->type_size + off[f], cl_f32_to_f16(v));
        }
}

/* Check 4: gemm8, gemm8x and gemm16x of every set against generic dot, row by row. */
static int check_gemm8(const cl_kernels *gen, const cl_kernels *set) {
    int failed = 0;
    for (int type = 0; type < CL_TYPE_COUNT; type++) {
        if (!set->gemm8[type] && !set->gemm8x[type]) continue;
        const int64_t n = 512;
        const int nt_max = 7, os = 19; /* out stride > 16: the gaps must stay untouched */
        size_t row = cl_row_size(type, n), ws = row + 5;
        uint8_t *wbuf = malloc(ws * 16 + 64), *w = wbuf + 3;
        float *x = malloc(sizeof(float) * n);
        size_t q8_stride = (size_t)(n / CL_QK) * sizeof(cl_block_q8);
        char *abuf = malloc(q8_stride * nt_max);
        for (int r = 0; r < 16; r++) random_row(type, w + r * ws, n);
        for (int t = 0; t < nt_max; t++) {
            for (int64_t i = 0; i < n; i++) x[i] = uniform(-1, 1) * (rnd() % 16 == 0 ? 8.0f : 1.0f);
            if (gen->act[type] == CL_ACT_Q8K) cl_quantize_row_q8k(x, (cl_block_q8 *)(abuf + t * q8_stride), n);
            else cl_quantize_row_q8(x, (cl_block_q8 *)(abuf + t * q8_stride), n);
        }
        /* Rows 0..7 and 8..15 as two groups of x8 blocks, as repack.c stores them, the
         * second an odd number of bytes after the first. */
        size_t bb = cl_type_info(type)->type_size, gs = row * 8 + 7;
        uint8_t *pbuf = malloc(gs + row * 8 + 64), *pw = pbuf + 1;
        int has_x = set->gemm8x[type] != NULL, has_16 = set->gemm16x[type] != NULL;
        if (has_x) {
            cl_interleave8(type, w, ws, pw, n);
            cl_interleave8(type, w + 8 * ws, ws, pw + gs, n);
        }
        /* Errors relative to sum |w| |a| of each (row, activation row), as in check 3. */
        float *wf = malloc(sizeof(float) * n);
        double mag[16][7];
        float ref[16][7];
        for (int r = 0; r < 16; r++) {
            cl_dequantize_row(type, w + r * ws, wf, n);
            for (int t = 0; t < nt_max; t++) {
                const cl_block_q8 *y = (const cl_block_q8 *)(abuf + t * q8_stride);
                double m = 0;
                for (int64_t i = 0; i < n; i++) m += fabs(wf[i] * y[i / CL_QK].d * y[i / CL_QK].qs[i % CL_QK]);
                mag[r][t] = m > 0 ? m : 1;
                gen->dot[type](n, w + r * ws, abuf + t * q8_stride, q8_stride, 1, &ref[r][t]);
            }
        }
        free(wf);
        double worst = 0;
        int stray = 0;
        const int nts[] = {1, 2, 3, 4, 5, 7};
        /* layouts: 0 stored rows (gemm8), 1 one x8 group (gemm8x), 2 two groups (gemm16x) */
        for (int layout = 0; layout < 3; layout++) {
            if ((layout == 0 && !set->gemm8[type]) || (layout == 1 && !has_x) || (layout == 2 && !has_16)) continue;
            int rows = layout == 2 ? 16 : 8;
            for (int k = 0; k < 6; k++) {
                float out[7 * 19];
                for (int i = 0; i < 7 * 19; i++) out[i] = NAN;
                if (layout == 0) set->gemm8[type](n, w, ws, bb, abuf, q8_stride, nts[k], out, os);
                else if (layout == 1) set->gemm8x[type](n, pw, abuf, q8_stride, nts[k], out, os);
                else set->gemm16x[type](n, pw, gs, abuf, q8_stride, nts[k], out, os);
                for (int t = 0; t < nt_max; t++)
                    for (int r = 0; r < os; r++) {
                        float got = out[t * os + r];
                        if (t >= nts[k] || r >= rows) {
                            stray |= !isnan(got);
                            continue;
                        }
                        double e = fabs(got - ref[r][t]) / mag[r][t];
                        worst = fmax(worst, isnan(e) ? INFINITY : e);
                    }
            }
        }
        free(pbuf);
        int bad = !(worst <= 1e-5) || stray;
        printf("%-5s %s%s%s %s vs scalar dot: %.1e%s%s\n", cl_type_name(type), set->gemm8[type] ? "gemm8" : "",
               has_x ? (set->gemm8[type] ? ", gemm8x" : "gemm8x") : "",
               has_16 ? ", gemm16x" : "", set->isa, worst, stray ? " (wrote outside its outputs)" : "",
               bad ? "  FAIL" : "  ok");
        failed |= bad;
        free(wbuf), free(x), free(abuf);
    }
    return failed;
}

/* Check 5: each set's activation quantizers give the scalar ones' bytes, on rows with
 * random magnitudes, ties of +-max at random places (Q8K keeps the first), zeros,
 * a single non-zero value and values that round to exactly .5. */
static int check_quantize(const cl_kernels *gen, const cl_kernels *set) {
    const int64_t n = 512;
    float x[512];
    _Alignas(64) char a[1024], b[1024];
    int failed = 0;
    for (int kind = CL_ACT_Q8; kind < CL_ACT_COUNT; kind++) {
        if (!set->quantize[kind] || set->quantize[kind] == gen->quantize[kind]) continue;
        int mismatch = 0;
        memset(a, 0, sizeof a), memset(b, 0, sizeof b);
        for (int trial = 0; trial < 400; trial++) {
            float amp = powf(10.0f, uniform(-6, 4));
            for (int64_t i = 0; i < n; i++) x[i] = amp * uniform(-1, 1);
            switch (trial % 5) {
            case 1: /* ties: the same magnitude with both signs */
                for (int k = 0; k < 6; k++) x[rnd() % n] = (rnd() & 1 ? -2 : 2) * amp;
                break;
            case 2: memset(x, 0, sizeof x); break;
            case 3:
                memset(x, 0, sizeof x);
                x[rnd() % n] = -amp;
                break;
            case 4: /* multiples of max/254: half-way cases for the rounding */
                for (int64_t i = 0; i < n; i++) x[i] = (float)((int)(rnd() % 255) - 127) * amp / 254.0f;
                break;
            default: break;
            }
            if (kind == CL_ACT_BF16 && trial % 7 == 0) { /* NaN, infinities, subnormals, ties to even */
                const uint32_t special[] = {0x7FC00001u, 0xFFA00000u, 0x7F800000u, 0xFF800000u, 0x00000001u,
                                            0x807FFFFFu, 0x3F808000u, 0x3F818000u, 0x7F7FFFFFu};
                for (int k = 0; k < 9; k++) memcpy(&x[rnd() % n], &special[k], 4);
            }
            gen->quantize[kind](x, a, n);
            set->quantize[kind](x, b, n);
            mismatch += memcmp(a, b, sizeof a) != 0;
        }
        int bad = mismatch > 0;
        printf("%s quantizer %s vs scalar: %d of 400 rows differ%s\n",
               kind == CL_ACT_Q8 ? "Q8 " : kind == CL_ACT_Q8K ? "Q8K" : "BF16", set->isa,
               mismatch, bad ? "  FAIL" : "  ok");
        failed |= bad;
    }
    return failed;
}

/* Check 6: axpy_f16 of every set against the generic one (same products, one FMA vs a
 * multiply and an add: relative 1e-6 of sum |a x|). */
static int check_axpy(const cl_kernels *gen, const cl_kernels *set) {
    const int sizes[] = {128, 64, 80, 37, 3};
    double worst = 0;
    for (int si = 0; si < 5; si++) {
        int n = sizes[si];
        for (int nr = 1; nr <= 9; nr++) {
            cl_f16 x[128];
            float a[9], y0[9 * 128], y1[9 * 128 + 1], mag[9] = {0};
            for (int i = 0; i < n; i++) x[i] = cl_f32_to_f16(uniform(-4, 4));
            for (int r = 0; r < nr; r++) {
                a[r] = uniform(0, 1);
                for (int i = 0; i < n; i++) {
                    y0[r * n + i] = y1[r * n + i] = uniform(-1, 1);
                    mag[r] += fabs(a[r] * cl_f16_to_f32(x[i])) + fabs(y0[r * n + i]);
                }
            }
            y1[nr * n] = 12345.0f; /* must stay untouched */
            gen->axpy_f16(n, nr, a, x, y0);
            set->axpy_f16(n, nr, a, x, y1);
            for (int r = 0; r < nr; r++)
                for (int i = 0; i < n; i++) worst = fmax(worst, fabs(y0[r * n + i] - y1[r * n + i]) / mag[r]);
            if (y1[nr * n] != 12345.0f) worst = INFINITY;
        }
    }
    int bad = !(worst <= 1e-6);
    printf("axpy_f16 %s vs scalar: %.1e%s\n", set->isa, worst, bad ? "  FAIL" : "  ok");
    return bad;
}

/* Check 7: batch invariance. What a weight row gives one activation row must not
 * depend on what else is in the batch, so a server's parallel requests get exactly the
 * results each gets alone. For every kernel set (generic too) and weight type, the path
 * the matmul takes for a row in a batch of 2..7 activation rows must give the bits of
 * the path it takes for that activation row alone, for both layouts a type may have:
 * rows as stored (gemm8 for groups of 8 where the set has it, else dot; dot for the
 * rows after the last group) and x8 groups (gemm16x for 3 or more rows, gemm8x). */
static int check_invariance(const cl_kernels *set) {
    int failed = 0;
    for (int type = 0; type < CL_TYPE_COUNT; type++) {
        if (!set->dot[type]) continue;
        const int64_t n = 512;
        const int nt_max = 7, os = 16;
        int q8 = set->act[type] != CL_ACT_F32; /* or bf16: converted rows */
        size_t row = cl_row_size(type, n), bb = cl_type_info(type)->type_size;
        size_t a_stride = cl_act_row_bytes(set->act[type], n);
        uint8_t *w = malloc(row * 16 + 16), *pw = malloc(row * 16 + 16);
        char *abuf = malloc(a_stride * nt_max);
        float *x = malloc(sizeof(float) * n);
        for (int r = 0; r < 16; r++) random_row(type, w + r * row, n);
        for (int t = 0; t < nt_max; t++) {
            for (int64_t i = 0; i < n; i++) x[i] = uniform(-1, 1);
            if (!q8) memcpy(abuf + t * a_stride, x, a_stride);
            else set->quantize[set->act[type]](x, abuf + t * a_stride, n);
        }
        int packed = set->gemm8x[type] != NULL;
        if (packed) {
            cl_interleave8(type, w, row, pw, n);
            cl_interleave8(type, w + 8 * row, row, pw + 8 * row, n);
        }
        /* each activation row alone, through the one-row paths: stored rows 0..7 by
         * gemm8 (or dot), rows 8..15 by dot (a remainder); x8 groups by gemm8x */
        float stored[16][7], grouped[16][7], out[7 * 16];
        for (int t = 0; t < nt_max; t++) {
            const char *a1 = abuf + t * a_stride;
            if (set->gemm8[type]) set->gemm8[type](n, w, row, bb, a1, a_stride, 1, out, os);
            else
                for (int r = 0; r < 8; r++) set->dot[type](n, w + (size_t)r * row, a1, a_stride, 1, &out[r]);
            for (int r = 8; r < 16; r++) set->dot[type](n, w + (size_t)r * row, a1, a_stride, 1, &out[r]);
            for (int r = 0; r < 16; r++) stored[r][t] = out[r];
            for (int g = 0; packed && g < 2; g++) {
                set->gemm8x[type](n, pw + (size_t)g * 8 * row, a1, a_stride, 1, out, os);
                for (int r = 0; r < 8; r++) grouped[g * 8 + r][t] = out[r];
            }
        }
        int diff = 0;
        const char *where = "";
        for (int nt = 2; nt <= nt_max; nt++) {
            if (packed) {
                for (int g = 0; g < 2; g++) {
                    set->gemm8x[type](n, pw + (size_t)g * 8 * row, abuf, a_stride, nt, out, os);
                    for (int t = 0; t < nt; t++)
                        for (int r = 0; r < 8; r++)
                            if (memcmp(&out[t * os + r], &grouped[g * 8 + r][t], 4)) diff++, where = "gemm8x";
                }
                if (set->gemm16x[type]) {
                    set->gemm16x[type](n, pw, 8 * row, abuf, a_stride, nt, out, os);
                    for (int t = 0; t < nt; t++)
                        for (int r = 0; r < 16; r++)
                            if (memcmp(&out[t * os + r], &grouped[r][t], 4)) diff++, where = "gemm16x";
                }
            }
            for (int r = set->gemm8[type] ? 8 : 0; r < 16; r++) {
                float o[7];
                set->dot[type](n, w + (size_t)r * row, abuf, a_stride, nt, o);
                for (int t = 0; t < nt; t++)
                    if (memcmp(&o[t], &stored[r][t], 4)) diff++, where = "dot";
            }
            if (set->gemm8[type]) {
                set->gemm8[type](n, w, row, bb, abuf, a_stride, nt, out, os);
                for (int t = 0; t < nt; t++)
                    for (int r = 0; r < 8; r++)
                        if (memcmp(&out[t * os + r], &stored[r][t], 4)) diff++, where = "gemm8";
            }
        }
        if (diff) printf("FAIL %s/%s: %d results depend on the batch (last in %s)\n", cl_type_name(type), set->isa, diff, where);
        failed |= diff != 0;
        free(w), free(pw), free(abuf), free(x);
    }
    printf("batch invariance %s: every path, batches of 2..7 rows, bit-identical to one row alone%s\n", set->isa,
           failed ? "  FAIL" : "  ok");
    return failed;
}

static const int types[] = {CL_TYPE_F32,  CL_TYPE_F16,  CL_TYPE_BF16, CL_TYPE_Q4_0, CL_TYPE_Q4_1,
                            CL_TYPE_Q5_0, CL_TYPE_Q5_1, CL_TYPE_Q8_0, CL_TYPE_Q2_K, CL_TYPE_Q3_K,
                            CL_TYPE_Q4_K, CL_TYPE_Q5_K, CL_TYPE_Q6_K};

int main(void) {
    const cl_kernels *gen = cl_kernels_generic();
    /* every set of the list but the scalar one (the last), NULL where skipped */
    const cl_kernels *sets[MAX_SETS] = {0};
    const int nsets = cl_kernel_set_count() - 1;
    if (nsets > MAX_SETS) {
        printf("FAIL: %d kernel sets, the test holds %d\n", nsets, MAX_SETS);
        return 1;
    }
    for (int s = 0; s < nsets; s++) {
        char why[128];
        if (!(sets[s] = cl_kernel_set(s, why, sizeof why))) printf("skipped %s: %s\n", cl_kernel_set_name(s), why);
    }
    printf("kernel sets: generic");
    for (int s = nsets - 1; s >= 0; s--)
        if (sets[s]) printf(" %s", sets[s]->isa);
    printf("; cl_kernels_get() -> %s\n", cl_kernels_get()->isa);

    const int64_t nmax = 2048;
    /* +1: blocks at odd addresses, as in a mapped file. */
    uint8_t *wbuf = malloc((size_t)nmax * 4 + 64), *w = wbuf + 1;
    float *wf = malloc(sizeof(float) * nmax);
    float *x = malloc(sizeof(float) * nmax * NT_MAX);  /* float activations */
    float *xd = malloc(sizeof(float) * nmax * NT_MAX); /* after q8 rounding */
    size_t q8_stride = (size_t)(nmax / CL_QK + 1) * sizeof(cl_block_q8);
    char *abuf = malloc(q8_stride * NT_MAX);
    size_t f_stride = sizeof(float) * (nmax + 3); /* odd stride, float rows misaligned */
    char *fbuf = malloc(f_stride * NT_MAX);
    size_t b_stride = cl_act_row_bytes(CL_ACT_BF16, nmax) + 2; /* odd line offset */
    char *bbuf = malloc(b_stride * NT_MAX);
    float *xb = malloc(sizeof(float) * nmax * NT_MAX); /* after bf16 rounding */
    int failed = 0;

    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        int type = types[ti];
        const char *name = cl_type_name(type);
        if (!gen->dot[type]) {
            printf("FAIL %s: no generic kernel\n", name);
            failed = 1;
            continue;
        }
        int q8 = gen->act[type] != CL_ACT_F32;
        /* Float kernels must take any n (attention dots use the head size). */
        const int64_t sizes_q[] = {256, 2048}, sizes_f[] = {64, 1031};
        double err_ref = 0, err_true = 0, err_tile = 0, err_set[MAX_SETS] = {0};
        for (int trial = 0; trial < TRIALS; trial++) {
            int64_t n = (q8 ? sizes_q : sizes_f)[trial & 1];
            random_row(type, w, n);
            cl_dequantize_row(type, w, wf, n);
            float amp = powf(10.0f, uniform(-2, 2));
            for (int64_t i = 0; i < n * NT_MAX; i++) x[i] = amp * uniform(-1, 1) * (rnd() % 16 == 0 ? 8.0f : 1.0f);
            const void *a;
            size_t stride;
            double bound_q8[NT_MAX] = {0};
            if (q8) {
                for (int t = 0; t < NT_MAX; t++) {
                    cl_block_q8 *y = (cl_block_q8 *)(abuf + t * q8_stride);
                    if (gen->act[type] == CL_ACT_Q8K)
                        cl_quantize_row_q8k(x + t * n, y, n);
                    else
                        cl_quantize_row_q8(x + t * n, y, n);
                    for (int64_t i = 0; i < n; i++) {
                        xd[t * n + i] = y[i / CL_QK].d * y[i / CL_QK].qs[i % CL_QK];
                        bound_q8[t] += fabs(wf[i]) * fabs(y[i / CL_QK].d) * 0.5;
                    }
                }
                a = abuf, stride = q8_stride;
            } else {
                for (int t = 0; t < NT_MAX; t++) {
                    memcpy(fbuf + t * f_stride, x + t * n, sizeof(float) * n);
                    memcpy(xd + t * n, x + t * n, sizeof(float) * n);
                }
                a = fbuf, stride = f_stride;
            }
            float ref[NT_MAX], one[NT_MAX], out[NT_MAX];
            double mag[NT_MAX];
            gen->dot[type](n, w, a, stride, NT_MAX, ref);
            for (int t = 0; t < NT_MAX; t++) {
                gen->dot[type](n, w, (const char *)a + t * stride, stride, 1, &one[t]);
                double dd = 0, dt = 0, m = 0;
                for (int64_t i = 0; i < n; i++) {
                    dd += (double)wf[i] * xd[t * n + i];
                    dt += (double)wf[i] * x[t * n + i];
                    m += fabs((double)wf[i] * x[t * n + i]);
                }
                mag[t] = m > 0 ? m : 1;
                err_ref = fmax(err_ref, fabs(ref[t] - dd) / mag[t]);
                err_tile = fmax(err_tile, fabs(ref[t] - one[t]) / mag[t]);
                /* the q8 rounding bound, with float slack */
                double excess = fabs(ref[t] - dt) - bound_q8[t];
                err_true = fmax(err_true, excess > 0 ? excess / mag[t] : 0);
            }
            /* A set that takes BF16 activations for this type (generic: floats) meets
             * the scalar kernel on the same rows rounded to bf16 (exactly what it sees). */
            float refb[NT_MAX];
            int have_b = 0;
            for (int s = 0; s < nsets; s++) {
                if (!sets[s]) continue;
                const void *as = a;
                size_t astride = stride;
                const float *want = ref;
                if (sets[s]->act[type] != gen->act[type]) {
                    if (sets[s]->act[type] != CL_ACT_BF16 || gen->act[type] != CL_ACT_F32) {
                        printf("FAIL %s/%s: activation format %d, no reference for it\n", name, sets[s]->isa,
                               sets[s]->act[type]);
                        failed = 1;
                        continue;
                    }
                    if (!have_b) {
                        for (int t = 0; t < NT_MAX; t++) {
                            cl_bf16 *row = (cl_bf16 *)(bbuf + t * b_stride);
                            gen->quantize[CL_ACT_BF16](x + t * n, row, n);
                            for (int64_t i = 0; i < n; i++) xb[t * n + i] = cl_bf16_to_f32(row[i]);
                        }
                        gen->dot[type](n, w, xb, sizeof(float) * (size_t)n, NT_MAX, refb);
                        have_b = 1;
                    }
                    as = bbuf, astride = b_stride, want = refb;
                }
                const int nts[] = {1, 3, 4, 7};
                for (int k = 0; k < 4; k++) {
                    for (int t = 0; t < NT_MAX; t++) out[t] = NAN;
                    sets[s]->dot[type](n, w, as, astride, nts[k], out);
                    for (int t = 0; t < nts[k]; t++) {
                        double e = fabs(out[t] - want[t]) / mag[t];
                        err_set[s] = fmax(err_set[s], isnan(e) ? INFINITY : e);
                    }
                    if (nts[k] < NT_MAX && !isnan(out[nts[k]])) {
                        printf("FAIL %s/%s: wrote past out[nt-1] for nt=%d\n", name, sets[s]->isa, nts[k]);
                        failed = 1;
                    }
                }
            }
        }
        /* Scalar vs dequantized: both exact up to float accumulation. SIMD vs scalar:
         * same integer sums, different float order (the F32 row sums differ more). */
        const double tol_ref = 1e-5, tol_simd = q8 ? 1e-5 : 2e-5;
        int bad = err_ref > tol_ref || err_true > tol_ref || err_tile > 0;
        printf("%-5s scalar-vs-dequant %.1e  vs-float-within-q8-bound %.1e  tile %.0e", name, err_ref, err_true, err_tile);
        if (bad) printf("  FAIL(scalar)");
        int simd_bad[MAX_SETS] = {0};
        for (int s = 0; s < nsets; s++) {
            if (!sets[s]) continue;
            simd_bad[s] = !(err_set[s] <= tol_simd);
            printf("  %s %.1e%s", sets[s]->isa, err_set[s], simd_bad[s] ? " FAIL" : "");
            bad |= simd_bad[s];
        }
        printf("%s\n", bad ? "" : "  ok");
        for (int s = 0; s < nsets; s++)
            if (simd_bad[s])
                printf("FAIL %s/%s: SIMD dot differs from scalar by %.3g (limit %.0e)\n", name, sets[s]->isa, err_set[s], tol_simd);
        if (bad && (err_ref > tol_ref || err_true > tol_ref || err_tile > 0))
            printf("FAIL %s/generic: scalar dot disagrees with the dequantized reference\n", name);
        failed |= bad;
    }
    free(wbuf), free(wf), free(x), free(xd), free(abuf), free(fbuf), free(bbuf), free(xb);
    for (int s = 0; s < nsets; s++)
        if (sets[s]) failed |= check_gemm8(gen, sets[s]) | check_quantize(gen, sets[s]) | check_axpy(gen, sets[s]);
    failed |= check_invariance(gen);
    for (int s = 0; s < nsets; s++)
        if (sets[s]) failed |= check_invariance(sets[s]);
    if (failed) {
        printf("test_kernels: FAILED\n");
        return 1;
    }
    printf("test_kernels: all kernels agree\n");
    return 0;
}
