/* Chat templates through the public API: the model's tokenizer.chat_template (or a
 * built-in, or the caller's text) rendered by the Jinja interpreter for a list of
 * messages, with the variables transformers' apply_chat_template passes
 * (messages, add_generation_prompt, bos_token, eos_token, tools = none, documents =
 * none). A model without a template gets the ChatML built-in, as llama.cpp does. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja.h"
#include "detok.h"
#include "error.h"
#include "model.h"

/* Built-in templates, written here after each family's published format. */
static const struct {
    const char *name, *text;
} builtins[] = {
    {"chatml",
     "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2",
     "{% if messages and messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
     "{% set msgs = messages[1:] %}{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}"
     "{% for message in msgs %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + (sys if loop.first else '') + "
     "message['content'] | trim + ' [/INST]' }}{% else %}{{ ' ' + message['content'] | trim + ' ' + eos_token }}{% endif %}"
     "{% endfor %}"},
    {"llama3",
     "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
     "message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% else %}{{ message['content'] + '\\n\\n' }}"
     "{% endif %}{% endfor %}"},
    {"zephyr",
     "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
    {"phi3",
     "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
    {"gemma",
     "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
     "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"},
};
#define N_BUILTINS (int)(sizeof builtins / sizeof *builtins)

const char *cllama_chat_builtin(const char *name) {
    for (int i = 0; name && i < N_BUILTINS; i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].text;
    return NULL;
}

const char *cllama_chat_builtin_names(void) { return "chatml llama2 llama3 mistral zephyr phi3 gemma"; }

/* Families by the markers their templates write, most specific first. */
const char *cllama_chat_template_family(const char *t) {
    if (!t) return "none";
#define HAS(s) (strstr(t, s) != NULL)
    if (HAS("<|start_header_id|>")) return "llama3";
    if (HAS("<|im_start|>")) return "chatml";
    if (HAS("<start_of_turn>")) return "gemma";
    if (HAS("<|start_of_role|>")) return "granite";
    if (HAS("<|im_sep|>")) return "phi4";
    if (HAS("<\xef\xbd\x9c" "User\xef\xbd\x9c>") || HAS("<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>")) return "deepseek";
    if (HAS("<<SYS>>")) return "llama2";
    if (HAS("[INST]")) return "mistral";
    if (HAS("<|user|>") && HAS("<|end|>")) return "phi3";
    if (HAS("<|user|>")) return HAS("<|endoftext|>") ? "olmo" : "zephyr";
#undef HAS
    return "custom";
}

const char *cllama_model_chat_template(const cllama_model *m) { return m ? m->chat_template : NULL; }

cllama_chat_params cllama_chat_default_params(void) {
    cllama_chat_params p = {0};
    p.add_generation_prompt = 1;
    return p;
}

void cllama_free(void *p) { free(p); }

/* Text as valid UTF-8 (ill-formed bytes as U+FFFD), in the arena. */
static jv clean_text(jarena *a, const char *s) {
    size_t n = s ? strlen(s) : 0;
    char *o = ja_alloc(a, 3 * (n + 3) + 1);
    cl_utf8_stream st = {0};
    int k = cl_utf8_stream_push(&st, s ? s : "", (int)n, o);
    k += cl_utf8_stream_flush(&st, o + k);
    return (jv){.k = JV_STR, .s = {o, (size_t)k}};
}

/* The text of a special token of the model ("" if none). */
static const char *token_text(jarena *a, const cllama_model *m, int32_t id) {
    int len;
    const char *t = m && id >= 0 ? cllama_token_text(m, id, &len) : NULL;
    return t ? ja_strndup(a, t, (size_t)len) : "";
}

/* Builds the variables in the arena and renders; out of memory unwinds here. */
static int render(jarena *a, const cllama_model *m, const cllama_chat_message *msgs, size_t n, const char *tmpl,
                  const cllama_chat_params *params, char **out) {
    jmp_buf jb;
    if (setjmp(jb)) return cl_err(CLLAMA_E_NOMEM, "out of memory rendering the chat template");
    ja_on_fail(a, &jb);
    jlist *list = jlist_new(a);
    for (size_t i = 0; i < n; i++) {
        jdict *d = jdict_new(a);
        jdict_set(a, d, jv_cstr("role"), clean_text(a, msgs[i].role));
        jdict_set(a, d, jv_cstr("content"), clean_text(a, msgs[i].content));
        jlist_push(a, list, (jv){.k = JV_DICT, .d = d});
    }
    const char *bos = params->bos_token ? params->bos_token : token_text(a, m, m ? cllama_token_bos(m) : -1);
    const char *eos = params->eos_token ? params->eos_token : token_text(a, m, m ? cllama_token_eos(m) : -1);
    jglobal vars[] = {
        {"messages", {.k = JV_LIST, .l = list}},
        {"add_generation_prompt", jv_bool(params->add_generation_prompt)},
        {"bos_token", jv_cstr(bos)},
        {"eos_token", jv_cstr(eos)},
        {"tools", jv_none()},
        {"documents", jv_none()},
    };
    return cl_jinja_render(a, tmpl, strlen(tmpl), vars, (int)(sizeof vars / sizeof *vars),
                           params->now ? params->now : (int64_t)time(NULL), out);
}

int cllama_chat_apply(const cllama_model *m, const cllama_chat_message *msgs, size_t n, const cllama_chat_params *params,
                      char **out) {
    if (!out) return cl_err(CLLAMA_E_INVALID, "cllama_chat_apply: no output pointer");
    *out = NULL;
    if ((!msgs && n) || n > (1u << 20)) return cl_err(CLLAMA_E_INVALID, "cllama_chat_apply: invalid messages");
    cllama_chat_params def = cllama_chat_default_params();
    if (!params) params = &def;
    const char *tmpl = params->tmpl ? params->tmpl : cllama_model_chat_template(m);
    if (!tmpl) tmpl = cllama_chat_builtin("chatml");
    jarena *a = ja_new();
    if (!a) return cl_err(CLLAMA_E_NOMEM, "out of memory");
    int rc = render(a, m, msgs, n, tmpl, params, out);
    ja_free(a);
    return rc;
}
