/* cllama quantize: a model file into another file type, with llama.cpp's recipes and
 * block formats (the library's cllama_quantize_file), a line per tensor and a summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"

static const char *HELP =
    "usage: cllama quantize IN.gguf OUT.gguf TYPE [-t N] [--allow-requantize] [--pure]\n"
    "                       [--output-tensor-type T] [--token-embedding-type T] [-q]\n"
    "Writes IN quantized to the file type TYPE, as llama-quantize does: its per-tensor\n"
    "recipe (more bits for output, and for attn_v / ffn_down in some layers of the _M\n"
    "types), its block formats and scale search. Metadata and tokenizer are carried over.\n"
    "TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
    "      Q5_K_S Q5_K_M Q6_K\n"
    "  -t, --threads N          threads (default: physical cores)\n"
    "  --allow-requantize       accept quantized input (dequantized first: quality is lost twice)\n"
    "  --pure                   every matrix the type's base type, no mix (fallbacks still apply)\n"
    "  --output-tensor-type T   weight type of output.weight (e.g. Q8_0)\n"
    "  --token-embedding-type T weight type of token_embd.weight\n"
    "  -q, --quiet              no line per tensor\n";

static void mib(char *b, size_t n, uint64_t bytes) { snprintf(b, n, "%.2f MiB", bytes / 1048576.0); }

static void on_tensor(const cllama_quantize_progress *p, void *data) {
    (void)data;
    char shape[96] = "", in[32], out[32];
    for (int d = 0; d < p->n_dims; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? " x " : "", (long long)p->ne[d]);
    mib(in, sizeof in, p->bytes_in);
    mib(out, sizeof out, p->bytes_out);
    fprintf(stderr, "[%*d/%d] %-32s [%s] %s -> %s%s  %s -> %s\n", p->count >= 100 ? 3 : 2, p->index + 1, p->count,
            p->name, shape, p->type_in, p->type_out,
            p->copied ? " (copied)" : p->fallback ? " (fallback: rows are not whole blocks)" : "", in, out);
}

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize", *pos[3] = {NULL, NULL, NULL}, *v;
    int n_pos = 0, quiet = 0;
    cllama_quantize_params qp = cllama_quantize_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--allow-requantize")) qp.allow_requantize = 1;
        else if (!strcmp(a, "--pure")) qp.pure = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = arg_value(cmd, argc, argv, &i)) || arg_int(cmd, a, v, 1, 1024, &qp.n_threads)) return EXIT_USAGE;
        } else if (!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) {
            if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
            *(a[2] == 'o' ? &qp.output_tensor_type : &qp.token_embedding_type) = v;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown option '%s'", a);
        } else {
            if (n_pos == 3) return usage_error(cmd, "unexpected argument '%s' (IN OUT TYPE are given)", a);
            pos[n_pos++] = a;
        }
    }
    if (n_pos < 3) return usage_error(cmd, "expects IN.gguf OUT.gguf TYPE");
    qp.type = pos[2];
    if (!cli_quantize_type_known(qp.type, strlen(qp.type)))
        return usage_error(cmd, "unknown type '%s' (one of: %s)", qp.type, cllama_quantize_types());
    if (!strcmp(pos[0], pos[1])) return usage_error(cmd, "the output would overwrite the input");
    cli_check_threads(cmd, qp.n_threads);
    if (!quiet) qp.progress = on_tensor;
    cllama_quantize_stats st;
    if (cllama_quantize_file(pos[0], pos[1], &qp, &st)) return runtime_error(cmd, "%s", cllama_last_error());
    char in[32], out[32];
    mib(in, sizeof in, st.bytes_in);
    mib(out, sizeof out, st.bytes_out);
    fprintf(stderr, "quantize: %s -> %s (%s): %s -> %s, %.2f bits per weight, %d of %d tensors converted", pos[0], pos[1],
            qp.type, in, out, st.n_params ? 8.0 * st.bytes_out / st.n_params : 0.0, st.n_quantized, st.n_tensors);
    if (st.n_fallback) fprintf(stderr, " (%d fell back for their row length)", st.n_fallback);
    fprintf(stderr, ", %.1f s\n", st.seconds);
    return 0;
}
