#!/usr/bin/env python3
# Every fail point the C code can reach, found in the sources (not a list kept by hand):
#   failpoints.py TOP   prints "step<TAB>file:line", one a line, sorted; exit 1 when a call
#                       could not be resolved to names (say so, so that no step is missed).
# A call failpoint("a.b.c") gives its literal. A call failpoint(var) is resolved through
# the nearest snprintf(var, sizeof(var), "%s.step", fn(...)) before it in the same file,
# fn being a function of that file whose body returns string literals (delete_kind). A call
# failpoint(x->field) or failpoint(x.field) is resolved through every assignment of a
# literal to that field (".field = \"a.b\"" or "field = \"a.b\"") in the C files of the
# same folder (a step name carried in a struct, as backup/ does for its data loops).
import os
import re
import sys

SKIP_DIRS = {"tests", "build", ".git", "docs", "scripts", "bench"}
CALL = re.compile(r"\bfailpoint\s*\(\s*([^;]*?)\s*\)\s*;")
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"')


def c_files(top):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for f in files:
            if f.endswith(".c"):
                yield os.path.join(root, f)


def func_literals(text, fn):
    m = re.search(r"\b%s\s*\([^)]*\)\s*\{" % re.escape(fn), text)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return LIT.findall(text[m.end():i])


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "."
    found, unresolved = [], []
    for path in sorted(c_files(top)):
        rel = os.path.relpath(path, top)
        text = open(path, encoding="utf-8", errors="replace").read()
        if rel == os.path.join("common", "str.c"):
            continue  # the definition
        for m in CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (rel, line)
            arg = m.group(1)
            lit = re.fullmatch(r'"([^"]*)"', arg)
            if lit:
                found.append((lit.group(1), where))
                continue
            var = re.fullmatch(r"[A-Za-z_]\w*", arg)
            names = None
            if var:
                before = text[:m.start()]
                sp = list(re.finditer(
                    r"snprintf\s*\(\s*%s\s*,\s*sizeof\s*\(\s*%s\s*\)\s*,\s*\"([^\"]*)\"\s*,"
                    r"\s*([A-Za-z_]\w*)\s*\(" % (var.group(0), var.group(0)), before))
                if sp:
                    fmt, fn = sp[-1].group(1), sp[-1].group(2)
                    lits = func_literals(text, fn)
                    if lits and fmt.count("%s") == 1 and "%" not in fmt.replace("%s", ""):
                        names = [fmt.replace("%s", v) for v in lits]
            fld = re.fullmatch(r"[A-Za-z_][\w.>-]*?(?:->|\.)([A-Za-z_]\w*)", arg)
            if fld and not names:
                names = []
                folder = os.path.dirname(path)
                for other in sorted(os.listdir(folder)):
                    if not other.endswith((".c", ".h")):
                        continue
                    otext = open(os.path.join(folder, other), encoding="utf-8",
                                 errors="replace").read()
                    names += re.findall(r"(?:\.|->|\b)%s\s*=\s*\"([^\"]+)\"" % fld.group(1),
                                        otext)
                names = sorted(set(names))
            if not names:
                unresolved.append("%s: failpoint(%s)" % (where, arg))
                continue
            for n in names:
                found.append((n, where))
    for step, where in sorted(set(found)):
        print("%s\t%s" % (step, where))
    for u in unresolved:
        sys.stderr.write("failpoints: cannot tell the step of %s\n" % u)
    return 1 if unresolved else 0


if __name__ == "__main__":
    sys.exit(main())
