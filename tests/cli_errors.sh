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
for c in run logits tokenize info; do
    if "$bin" $c -h >/dev/null 2>&1; then echo "ok   $c -h"; else echo "FAIL $c -h"; fails=$((fails + 1)); fi
done
echo "$fails failed"
[ "$fails" -eq 0 ]
