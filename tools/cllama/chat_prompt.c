#include "chat_prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "prompt.h"

int chat_template_select(const char *cmd, const cllama_model *m, const char *arg, cllama_chat_params *params,
                         char **owned) {
    *owned = NULL;
    if (arg && cllama_chat_builtin(arg)) {
        params->tmpl = cllama_chat_builtin(arg);
    } else if (arg) {
        size_t len;
        if (!(*owned = read_file(arg, &len)))
            return usage_error(cmd, "--chat-template: '%s' is neither a built-in (%s) nor a readable file: %s", arg,
                               cllama_chat_builtin_names(), strerror(errno));
        params->tmpl = *owned;
    } else if (!cllama_model_chat_template(m)) {
        fprintf(stderr, "cllama %s: the model has no chat template; using the chatml built-in (--chat-template to choose)\n",
                cmd);
        params->tmpl = cllama_chat_builtin("chatml");
    }
    return 0;
}

int chat_tokens(const cllama_model *m, const cllama_chat_message *msgs, int n, const cllama_chat_params *params,
                int32_t **ids, int *n_ids) {
    char *text = NULL;
    *ids = NULL;
    if (cllama_chat_apply(m, msgs, (size_t)n, params, &text)) return -1;
    const char *t = text;
    int bl;
    int32_t bos = cllama_token_bos(m);
    const char *bt = bos >= 0 ? cllama_token_text(m, bos, &bl) : NULL;
    int adds_bos = cllama_tokenize(m, "", 0, CLLAMA_TOKENIZE_ADD_BOS, NULL, 0) == 1;
    if (bt && bl > 0 && adds_bos && !strncmp(t, bt, (size_t)bl)) t += bl;
    int rc = tokenize_all(m, t, strlen(t), CLLAMA_TOKENIZE_ADD_BOS | CLLAMA_TOKENIZE_SPECIAL, ids, n_ids);
    cllama_free(text);
    return rc ? -1 : 0;
}
