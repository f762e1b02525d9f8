/* libFuzzer target: the input is a chat template (up to the first NUL byte) and, after
 * it, the content of a user message. Rendering must end in text or a one-line error,
 * never a crash, a hang or a leak, whatever the template does (cl_jinja_render's
 * limits bound output, steps and nesting). Seeded with the real templates in
 * tests/data/chat_templates. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cllama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    size_t tl = strlen(buf);
    const char *content = tl < size ? buf + tl + 1 : "Hello \xff\xfe there";
    cllama_chat_message msgs[] = {
        {"system", "Be brief."}, {"user", content}, {"assistant", "Hi."}, {"user", content}};
    cllama_chat_params p = cllama_chat_default_params();
    p.tmpl = buf;
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    p.now = 1721952000;
    char *out = NULL;
    if (cllama_chat_apply(NULL, msgs, 4, &p, &out) == CLLAMA_OK && !out) __builtin_trap();
    cllama_free(out);
    /* the built-ins on the fuzzed content */
    p.tmpl = cllama_chat_builtin("llama2");
    if (cllama_chat_apply(NULL, msgs, 4, &p, &out) != CLLAMA_OK) __builtin_trap();
    cllama_free(out);
    free(buf);
    return 0;
}
