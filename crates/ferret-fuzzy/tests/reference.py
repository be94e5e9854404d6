#!/usr/bin/env python3
"""Reference fuzzy hashes for ferret-fuzzy's conformance test (tests/reference.rs).

Reads a file that lists one path per line and prints, for each file in order,
one tab-separated line:

    index  ppdeep.hash  tlsh.hash  ppdeep.compare(prev, this)  tlsh.diff(prev, this)

where "prev" is the previous file in the list (the first file is compared with
itself). tlsh.diff is "-" when either digest is TNULL. Needs ppdeep==20260221 and
py-tlsh==4.12.1 (scripts/pip-requirements.txt).
"""
import sys

try:
    import ppdeep
    import tlsh
except ImportError as exc:
    sys.exit(f"reference.py: {exc}; install scripts/pip-requirements.txt")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: reference.py LIST_FILE")
    with open(sys.argv[1], "rb") as f:
        paths = [line.rstrip(b"\n") for line in f if line.strip()]
    out = sys.stdout
    prev_ssdeep = prev_tlsh = None
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            data = f.read()
        s = ppdeep.hash(data)
        t = tlsh.hash(data)
        if prev_ssdeep is None:
            prev_ssdeep, prev_tlsh = s, t
        score = ppdeep.compare(prev_ssdeep, s)
        dist = "-" if "TNULL" in (t, prev_tlsh) else str(tlsh.diff(prev_tlsh, t))
        out.write(f"{i}\t{s}\t{t}\t{score}\t{dist}\n")
        prev_ssdeep, prev_tlsh = s, t
    out.flush()


if __name__ == "__main__":
    main()
