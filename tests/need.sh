#!/bin/sh
# usage: need.sh FILE... -- COMMAND [ARG...]
# Runs COMMAND, or, when a FILE cannot be read, says what is missing and exits 77
# (CTest's SKIP_RETURN_CODE in this project): tests skip, not fail, without their data.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ ! -r "$1" ]; then
        echo "skipped: $1 is not there (the reference data: ../shared/testdata beside the clone, or -DCLLAMA_TESTDATA=DIR)"
        exit 77
    fi
    shift
done
shift
exec "$@"
