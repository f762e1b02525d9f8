"""The check-and-count pattern the Python tests share.

    from checklib import check, finish
    check(cond, "what was checked")   # prints "ok   ..." or "FAIL ..."
    finish()                          # prints the count, exits 1 if any check failed
"""
import sys

_fails = 0


def check(cond, what):
    global _fails
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        _fails += 1
    return bool(cond)


def fails():
    return _fails


def finish():
    print(f"{_fails} failed")
    sys.exit(1 if _fails else 0)
