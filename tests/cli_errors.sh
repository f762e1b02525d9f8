#!/bin/sh
# Usage errors exit 2 and runtime errors exit 1, each with one line on stderr.
# usage: cli_errors.sh CLLAMA_BIN MODEL.gguf
bin=$1 model=$2
fails=0
check() { # expected-code description command...
    want=$1 what=$2
    shift 2
    err=$("$@" 2>&1 >/dev/null)
    got=$?
    lines=$(printf '%s\n' "$err" | grep -c .)
    if [ "$got" -eq "$want" ] && [ "$lines" -eq 1 ]; then
        echo "ok   $what: exit $got: $err"
    else
        echo "FAIL $what: exit $got (want $want), $lines stderr lines: $err"
        fails=$((fails + 1))
    fi
}
check 2 "no command" "$bin"
check 2 "unknown command" "$bin" frobnicate
for c in run logits tokenize info; do
    check 2 "$c unknown flag" "$bin" $c --bogus
done
check 2 "run missing value" "$bin" run -m "$model" -p
check 2 "run bad number" "$bin" run -m "$model" -p hi -n abc
check 2 "run bad temp" "$bin" run -m "$model" -p hi --temp -1
check 2 "run no prompt" "$bin" run -m "$model"
check 2 "run two prompts" "$bin" run -m "$model" -p a --ids 1
check 2 "logits no output" "$bin" logits -m "$model" --ids 1,2
check 2 "logits bad ids" "$bin" logits -m "$model" --ids 1,x -o /dev/null
check 2 "logits id out of range" "$bin" logits -m "$model" --ids 1,99999999 -o /dev/null
check 1 "run missing model" "$bin" run -m /nonexistent.gguf -p hi
check 1 "run not a gguf" "$bin" run -m "$0" -p hi
check 1 "info missing model" "$bin" info /nonexistent.gguf
check 1 "run prompt too long" "$bin" run -m "$model" --ctx 4 --ids 1,2,3,4,5 -n 1
check 1 "run -m DIR" "$bin" run -m "$(dirname "$0")" -p hi
check 1 "CLLAMA_ISA unknown" env CLLAMA_ISA=sse9 "$bin" run -m "$model" -p hi -n 1
check 1 "CLLAMA_ISA of the other architecture" env CLLAMA_ISA=neon "$bin" run -m "$model" -p hi -n 1
err=$(CLLAMA_ISA=neon "$bin" run -m "$model" -p hi -n 1 2>&1 >/dev/null)
case $err in
*"kernel set 'neon' is not available on this machine: not built for this architecture (available: "*) echo "ok   says why: $err" ;;
*"kernel set 'neon' is not available"*) echo "ok   (AArch64 build) $err" ;;
*) echo "FAIL CLLAMA_ISA=neon message: $err"; fails=$((fails + 1)) ;;
esac
# more threads than the CPUs this process may use: a warning, and the run goes on
if command -v taskset >/dev/null; then
    err=$(taskset -c 0 "$bin" run -m "$model" -p hi -n 1 -t 4 2>&1 >/dev/null)
    rc=$?
    case $err in
    *"warning: 4 threads on 1 CPUs this process may use"*) [ $rc -eq 0 ] && echo "ok   -t 4 under taskset -c 0: warned, exit 0" ||
        { echo "FAIL -t 4 under taskset: exit $rc"; fails=$((fails + 1)); } ;;
    *) echo "FAIL -t 4 under taskset -c 0: no warning: $err"; fails=$((fails + 1)) ;;
    esac
fi
# the message counts right and says what to do
err=$("$bin" run -m "$model" --ctx 1 -p hi -n 4 2>&1 >/dev/null)
case $err in
*"the prompt is 2 tokens and the context holds 1: no room to generate (use --ctx 6 or more)"*) echo "ok   --ctx 1: $err" ;;
*) echo "FAIL --ctx 1: $err"; fails=$((fails + 1)) ;;
esac
err=$("$bin" run -m "$model" --ctx 1 --ids 1 -n 4 2>&1 >/dev/null)
case $err in
*"the prompt is 1 token and"*) echo "ok   --ctx 1 with one token: $err" ;;
*) echo "FAIL --ctx 1 with one token: $err"; fails=$((fails + 1)) ;;
esac
# a context above the training context (512 for this model) works, with a warning;
# llama.cpp's spellings of the options are accepted
for flags in "--ctx 1024 -n 1" "-c 1024 --n-predict 1" "--ctx-size 1024 -n 1"; do
    err=$("$bin" run -m "$model" -p hi $flags --temp 0 2>&1 >/dev/null)
    if [ $? -eq 0 ] && printf '%s' "$err" | grep -q "warning: a context of 1024 tokens is above the 512 the model was trained on"; then
        echo "ok   run $flags: warns"
    else
        echo "FAIL run $flags: $err"; fails=$((fails + 1))
    fi
done
err=$("$bin" run -m "$model" -p hi --ctx 512 -n 1 2>&1 >/dev/null)
if printf '%s' "$err" | grep -q warning; then echo "FAIL --ctx 512 warns: $err"; fails=$((fails + 1)); else echo "ok   --ctx 512: no warning"; fi
for c in run logits tokenize info; do
    if "$bin" $c -h >/dev/null 2>&1; then echo "ok   $c -h"; else echo "FAIL $c -h"; fails=$((fails + 1)); fi
done
echo "$fails failed"
[ "$fails" -eq 0 ]
