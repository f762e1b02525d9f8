#!/usr/bin/env python3
"""Every option a subcommand's -h shows is in the README's table of commands.

usage: test_readme_options.py CLLAMA README.md

For each subcommand, the options named in its -h text must appear in the README row
that starts with "| `cllama SUBCOMMAND" (-h / --help aside), for every subcommand
`cllama -h` lists: each option of the usage
lines, and for each line that starts with options ("-c, --ctx-size, --ctx N  ..."),
at least one of its spellings (the README may give one name for the aliases).
"""
import re, subprocess, sys

cllama, readme = sys.argv[1:3]
rows = {}
for line in open(readme, encoding="utf-8"):
    m = re.match(r"\| `cllama (\w+)", line)
    if m:
        rows[m.group(1)] = line
fails = 0
# every subcommand `cllama -h` lists ("  name   what it does" under "commands:")
top = subprocess.run([cllama, "-h"], capture_output=True, text=True, timeout=30).stdout
cmds = re.findall(r"^  ([a-z]+)\s{2,}\S", top.split("commands:", 1)[-1], re.M)
if len(cmds) < 10:
    print(f"FAIL cllama -h lists {len(cmds)} commands: {cmds}")
    fails += 1
for cmd in cmds:
    h = subprocess.run([cllama, cmd, "-h"], capture_output=True, text=True, timeout=30).stdout
    groups = []
    for line in h.splitlines():
        if line.startswith("usage:") or line.startswith(" " * 8) and line.lstrip().startswith("["):
            groups += [{o} for o in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", line)]
        elif re.match(r"\s+-", line):
            head = re.split(r"\s{2,}", line.strip())[0]
            groups.append(set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", head)))
    groups = [g - {"-h", "--help"} for g in groups]
    groups = [g for g in groups if g]
    row = rows.get(cmd, "")
    def listed(o):
        return re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", row)
    missing = sorted("/".join(sorted(g)) for g in groups if not any(listed(o) for o in g))
    ok = row and not missing
    fails += not ok
    opts = set().union(*groups) if groups else set()
    print(f"{'ok  ' if ok else 'FAIL'} {cmd}: {len(opts)} options" + (f", not in the README: {missing}" if missing else "")
          + ("" if row else " (no README row)"))
sys.exit(1 if fails else 0)
