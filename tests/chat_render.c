/* Helper of test_chat_templates.py: renders chat templates through the public API.
 * usage: chat_render CASES.json
 * CASES.json: [{"template": TEXT, "messages": [{"role", "content"}...],
 *               "add_generation_prompt": bool, "bos_token": S, "eos_token": S, "now": N}, ...]
 * Prints a JSON list with, per case, {"text": RENDERED} or {"error": MESSAGE, "code": N}. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cllama.h"
#include "logit_util.h"

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    size_t len;
    char *js = slurp(argv[1], &len);
    cJSON *cases = js ? cJSON_Parse(js) : NULL;
    if (!cJSON_IsArray(cases)) {
        fprintf(stderr, "chat_render: cannot read %s\n", argv[1]);
        return 1;
    }
    cJSON *out = cJSON_CreateArray();
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(cs, "messages");
        int n = cJSON_GetArraySize(msgs);
        cllama_chat_message *m = calloc((size_t)n + 1, sizeof *m);
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(msgs, i);
            m[i].role = str_of(e, "role");
            m[i].content = str_of(e, "content");
        }
        cllama_chat_params p = cllama_chat_default_params();
        p.tmpl = str_of(cs, "template");
        p.add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "add_generation_prompt"));
        p.bos_token = str_of(cs, "bos_token");
        p.eos_token = str_of(cs, "eos_token");
        const cJSON *now = cJSON_GetObjectItemCaseSensitive(cs, "now");
        p.now = cJSON_IsNumber(now) ? (int64_t)now->valuedouble : 0;
        char *text = NULL;
        int rc = cllama_chat_apply(NULL, m, (size_t)n, &p, &text);
        cJSON *r = cJSON_CreateObject();
        if (rc) {
            cJSON_AddStringToObject(r, "error", cllama_last_error());
            cJSON_AddNumberToObject(r, "code", rc);
        } else {
            cJSON_AddStringToObject(r, "text", text);
        }
        cJSON_AddItemToArray(out, r);
        cllama_free(text);
        free(m);
    }
    char *s = cJSON_PrintUnformatted(out);
    puts(s);
    free(s);
    cJSON_Delete(out);
    cJSON_Delete(cases);
    free(js);
    return 0;
}
