"""Benchmarks: each prints a table and writes JSON to `bench/results/`.

Run from the repository root as modules (`python -m bench.retrieval DATASET --offline`), so the
packages import from the checkout with no `sys.path` edits.
"""

import os

# numpy's OpenBLAS starts a thread per core for every small product (pooling, MUVERA) and
# fights onnxruntime's pool for the same 2 cores (4-5x slower pooling); set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
