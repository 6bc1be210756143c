"""Writes data/digits.bin from scikit-learn's copy of the UCI optical handwritten digits.

    pip install scikit-learn==1.9.1 numpy
    python data/make_digits.py

Format (no header, 116,805 bytes): 1797 x 64 unsigned bytes of pixel counts 0..16
(8x8 images, row-major, sample after sample), then 1797 unsigned bytes of labels 0..9.
Samples are stored in a fixed shuffled order (numpy RandomState(0).permutation):
the first 1437 are the training split, the last 360 the test split.
"""

import hashlib
import pathlib

import numpy as np
from sklearn.datasets import load_digits

digits = load_digits()
pixels = digits.data.astype(np.int64)
labels = digits.target.astype(np.int64)
assert pixels.shape == (1797, 64) and labels.shape == (1797,)
assert pixels.min() >= 0 and pixels.max() <= 16 and set(labels.tolist()) == set(range(10))

order = np.random.RandomState(0).permutation(len(labels))
blob = pixels[order].astype(np.uint8).tobytes() + labels[order].astype(np.uint8).tobytes()

out = pathlib.Path(__file__).with_name("digits.bin")
out.write_bytes(blob)
print(f"{out}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")
