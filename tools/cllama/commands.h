/* Subcommands of the cllama CLI. Each returns the process exit code:
 * 0 success, 1 runtime error, 2 usage error. */
#ifndef CLLAMA_COMMANDS_H
#define CLLAMA_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_limits(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_quality(int argc, char **argv);

#endif
