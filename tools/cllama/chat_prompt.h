/* What chat and tokenize --chat share: choosing the template (--chat-template NAME
 * or FILE, else the model's, else ChatML with a notice) and turning a conversation
 * into the token ids the model sees. */
#ifndef CLLAMA_CHAT_PROMPT_H
#define CLLAMA_CHAT_PROMPT_H

#include <stdint.h>

#include "cllama.h"

/* Sets params->tmpl from `arg` (a built-in name or a Jinja file; NULL: the model's
 * template, or ChatML if it has none). *owned gets the file's text (free it).
 * 0, or EXIT_USAGE after a message. */
int chat_template_select(const char *cmd, const cllama_model *m, const char *arg, cllama_chat_params *params,
                         char **owned);

/* The conversation rendered through the template and tokenized with control tokens
 * matched. A template that writes BOS itself gets it once: its copy is dropped when
 * the vocabulary adds BOS (as llama.cpp does). *ids malloc'd. 0, or -1 with
 * cllama_last_error() set. */
int chat_tokens(const cllama_model *m, const cllama_chat_message *msgs, int n, const cllama_chat_params *params,
                int32_t **ids, int *n_ids);

#endif
