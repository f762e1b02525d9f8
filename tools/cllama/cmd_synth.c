/* cllama synth: writes a synthetic model of a real shape as a GGUF file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cllama.h"
#include "commands.h"
#include "cllama_toolkit.h"

static const char *HELP =
    "usage: cllama synth --shape NAME[:QUANT] -o FILE.gguf [-t THREADS] [--seed S]\n"
    "Writes a model with the published shape NAME, the tensor types of the QUANT recipe\n"
    "(default Q4_0) and random weights (a placeholder vocabulary of the right size).\n"
    "Shapes and quantizations: cllama bench --list-shapes.\n";

int cmd_synth(int argc, char **argv) {
    const char *cmd = "synth", *spec = NULL, *out = NULL, *v;
    int threads = 0;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (!(v = arg_value(cmd, argc, argv, &i))) return EXIT_USAGE;
        if (!strcmp(a, "--shape")) spec = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (arg_int(cmd, a, v, 1, 1024, &threads)) return EXIT_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (arg_u64(cmd, a, v, &seed)) return EXIT_USAGE;
        } else return usage_error(cmd, "unknown option '%s'", a);
    }
    if (!spec) return usage_error(cmd, "no shape given (--shape NAME[:QUANT])");
    if (!out) return usage_error(cmd, "no output file given (-o)");
    char name[64], quant[16] = "Q4_0", *colon;
    snprintf(name, sizeof name, "%s", spec);
    if ((colon = strchr(name, ':'))) {
        *colon = 0;
        snprintf(quant, sizeof quant, "%s", colon + 1);
    }
    cllama_shape s;
    if (cllama_shape_find(name, &s) || cllama_scheme_check(quant)) return usage_error(cmd, "%s", cllama_last_error());
    int created;
    if (cli_check_writable(out, &created)) return runtime_error(cmd, "cannot write %s: %s", out, strerror(errno));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t *buf;
    size_t size;
    if (cllama_synth_build(&s, quant, threads, seed, &buf, &size)) {
        if (created) remove(out);
        return runtime_error(cmd, "%s", cllama_last_error());
    }
    FILE *f = fopen(out, "wb");
    int ok = f && fwrite(buf, 1, size, f) == size, err = errno;
    if (f && fclose(f) && ok) {
        ok = 0;
        err = errno;
    }
    cllama_synth_free(buf, size);
    if (!ok) {
        remove(out);
        return runtime_error(cmd, "cannot write %s: %s", out, strerror(err));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "synth: wrote %s (%s %s, %.2f GiB) in %.1f s\n", out, s.name, quant, size / 1073741824.0,
            (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
