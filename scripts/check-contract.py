#!/usr/bin/env python3
"""A released contract never changes: each folder listed in wit/RELEASED must still have the digest recorded there.

    scripts/check-contract.py                 # check (run by `make test`)
    scripts/check-contract.py --release v0.2.0  # record a folder as released (once; then it is frozen)

The digest is sha256 over every file of the folder (sorted by path): its path, a NUL, its bytes, a NUL. A change to
a released folder, even of whitespace or a comment, fails: contract changes go into a new version folder.
"""
import hashlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIT = os.path.join(ROOT, "wit")
RELEASED = os.path.join(WIT, "RELEASED")


def digest(folder):
    path = os.path.join(WIT, folder)
    if not os.path.isdir(path):
        return None
    h = hashlib.sha256()
    files = sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, names in os.walk(path) for f in names
    )
    for rel in files:
        h.update(rel.replace(os.sep, "/").encode() + b"\0")
        with open(os.path.join(path, rel), "rb") as f:
            h.update(f.read() + b"\0")
    return h.hexdigest()


def released():
    entries = []
    with open(RELEASED, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                folder, want = line.split()
                entries.append((folder, want))
    return entries


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--release":
        folder = sys.argv[2]
        if any(f == folder for f, _ in released()):
            sys.exit(f"{folder} is already released")
        d = digest(folder)
        if d is None:
            sys.exit(f"no folder wit/{folder}")
        with open(RELEASED, "a", encoding="utf-8") as f:
            f.write(f"{folder} {d}\n")
        print(f"released {folder}: {d}")
        return
    failed = False
    for folder, want in released():
        got = digest(folder)
        if got != want:
            failed = True
            what = "is missing" if got is None else f"changed (digest {got}, released as {want})"
            print(
                f"wit/{folder} {what}: a released contract never changes. Put the change in a new version "
                f"folder (wit/vX.Y.Z) and keep this one as it was released (git checkout -- wit/{folder})."
            )
    if failed:
        sys.exit(1)
    print(f"contract: {len(released())} released version(s) unchanged")


if __name__ == "__main__":
    main()
