#!/usr/bin/env python3
# Look for a cephx key in files: as base64 (with and without its padding), as its raw
# bytes, and as lowercase and uppercase hex of them.
#   find-key.py KEY_B64 [--exclude DIR]... PATH...   prints "path: form" per find; exit 1 if any
import base64
import os
import sys


def main():
    args = sys.argv[1:]
    key = args.pop(0).strip()
    excludes, paths = [], []
    while args:
        a = args.pop(0)
        if a == "--exclude":
            excludes.append(os.path.realpath(args.pop(0)))
        else:
            paths.append(a)
    raw = base64.b64decode(key)
    forms = {
        "base64": key.encode(),
        "base64 unpadded": key.rstrip("=").encode(),
        "raw bytes": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    found = 0
    scanned = 0

    def scan(path):
        nonlocal found, scanned
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return
        scanned += 1
        for name, needle in forms.items():
            if needle and needle in data:
                print("%s: %s" % (path, name))
                found += 1

    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = [d for d in dirs
                           if os.path.realpath(os.path.join(root, d)) not in excludes]
                for f in files:
                    fp = os.path.join(root, f)
                    if os.path.isfile(fp) and not os.path.islink(fp):
                        scan(fp)
        else:
            scan(p)
    sys.stderr.write("find-key: %d file(s) scanned\n" % scanned)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
