"""numpy (OpenBLAS) single-precision matrix product throughput, the CPU yardstick of docs/src/performance.md.

Usage: python3 numpy_sgemm.py [n] [repeats]  ->  one line with the best and median GFLOP/s of
an n x n by n x n float32 product (2 n^3 flops), after one untimed product.
"""
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
a @ b
times = []
for _ in range(repeats):
    t = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t)
times.sort()
flops = 2 * n**3
print(
    f"numpy sgemm {n}^3: best {flops / times[0] / 1e9:.1f} GFLOP/s "
    f"median {flops / times[len(times) // 2] / 1e9:.1f} GFLOP/s (numpy {np.__version__})"
)
