#include "args.h"
#include "dist.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "cllama %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'cllama %s -h')\n", cmd);
    return EXIT_USAGE;
}

int runtime_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "cllama %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_RUNTIME;
}

const char *arg_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        usage_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int arg_int(const char *cmd, const char *flag, const char *s, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return usage_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", flag, min, max, s);
    *out = (int)v;
    return 0;
}

int arg_float(const char *cmd, const char *flag, const char *s, float min, float max, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        return usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", flag, min, max, s);
    *out = (float)v;
    return 0;
}

int arg_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-') return usage_error(cmd, "%s expects a non-negative integer, got '%s'", flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return usage_error(cmd, "%s expects a non-negative integer, got '%s'", flag, s);
    *out = v;
    return 0;
}

int arg_int_list(const char *cmd, const char *flag, const char *s, int32_t **out, int *n) {
    int cap = 16, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return runtime_error(cmd, "out of memory");
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < INT32_MIN || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return usage_error(cmd, "%s expects comma-separated integers, got '%s'", flag, s);
        }
        if (cnt == cap) {
            int32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) { free(v); return runtime_error(cmd, "out of memory"); }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (int32_t)x;
        if (!*end) break;
        p = end + 1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

char *read_file(const char *path, size_t *len) {
    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) { free(buf); buf = NULL; errno = ENOMEM; break; }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    if (!is_stdin) fclose(f);
    if (!buf) return NULL;
    if (err) { free(buf); errno = EIO; return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

void str_copy(char *dst, size_t n, const char *src) {
    size_t k = strlen(src);
    if (k >= n) k = n - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
}

cllama_model_params cli_model_params(void) {
    cllama_model_params p = cllama_model_default_params();
    const char *isa = getenv("CLLAMA_ISA"), *repack = getenv("CLLAMA_REPACK");
    if (isa && *isa) p.kernels = isa;
    if (repack && !strcmp(repack, "0")) p.no_repack = 1;
    return p;
}

static void log_stderr(int level, const char *msg, void *user) {
    if (level > *(int *)user) return;
    static const char *names[] = {"", "error", "warning", "info", "debug"};
    if (level == CLLAMA_LOG_INFO) fprintf(stderr, "cllama: %s\n", msg);
    else fprintf(stderr, "cllama: %s: %s\n", names[level >= 1 && level <= 4 ? level : 0], msg);
}

static int max_level = CLLAMA_LOG_WARN;

void cli_log_set_level(int level) {
    if (level > max_level) max_level = level;
}

void cli_log_init(void) {
    const char *v = getenv("CLLAMA_LOG");
    if (v && !strcmp(v, "info")) max_level = CLLAMA_LOG_INFO;
    else if (v && !strcmp(v, "debug")) max_level = CLLAMA_LOG_DEBUG;
    cllama_log_set(log_stderr, &max_level);
}

int cli_check_threads(const char *cmd, int threads) {
    /* the CPUs this process may run on: taskset, a container's cpuset, mpirun's binding */
    cpu_set_t set;
    long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > 0 && cpus > 0 && threads > cpus) {
        fprintf(stderr,
                "cllama %s: warning: %d threads on %ld CPUs this process may use: threads will wait for each other "
                "(use -t %ld or fewer)\n",
                cmd, threads, cpus, cpus);
        return 1;
    }
    return 0;
}

int cli_check_writable(const char *path, int *created) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    *created = fd >= 0;
    if (fd < 0 && errno == EEXIST) fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int cli_check_ctx(const char *cmd, const cllama_model *m, int n_ctx) {
    int train = cllama_model_n_ctx_train(m);
    if (n_ctx > 0 && train > 0 && n_ctx > train) {
        fprintf(stderr,
                "cllama %s: warning: a context of %d tokens is above the %d the model was trained on: "
                "text past %d tokens is usually poor\n",
                cmd, n_ctx, train, train);
        return 1;
    }
    return 0;
}

size_t unescape_inplace(char *s) {
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        switch (*++p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case '\\': *o++ = '\\'; break;
        case '\'': *o++ = '\''; break;
        case '"': *o++ = '"'; break;
        default: *o++ = '\\', *o++ = *p;
        }
    }
    *o = 0;
    return (size_t)(o - s);
}

int cli_model_load(const char *cmd, const char *path, const cllama_model_params *mp, cllama_model **out) {
    return dist_model_load(cmd, path, mp, out);
}

int cli_threads(int given) {
    int here = dist_local_ranks(), cores = cllama_default_threads();
    if (given > 0 || here < 2) return given;
    return cores / here > 1 ? cores / here : 1;
}

cllama_context_params cli_context_params(void) {
    cllama_context_params p = cllama_context_default_params();
    p.pipe = dist_pipe();
    return p;
}

int cli_quantize_type_known(const char *type, size_t len) {
    for (const char *t = cllama_quantize_types(); *t;) {
        size_t n = strcspn(t, " ");
        if (n == len && len && !memcmp(t, type, len)) return 1;
        t += n + (t[n] == ' ');
    }
    return 0;
}
