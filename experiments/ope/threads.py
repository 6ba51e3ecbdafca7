"""BLAS on one thread, for the many small or memory-bound products of off-policy evaluation.

On a shared two-core machine, multi-threaded BLAS costs more than it saves on
these products: one resample's ``(1, 200,000) @ (200,000, 3)`` product took
9 ms with BLAS's threads and 0.6 ms on one; a ``(1,000,000, 4)`` row sum 16 ms
against 2 ms (medians, under load).

Examples
--------
>>> import numpy as np
>>> with one_blas_thread():
...     float(np.ones((3, 2)).sum())
6.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from threadpoolctl import ThreadpoolController


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, BLAS libraries (OpenBLAS, MKL, ...) use a single thread; restored on exit."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


@cache
def _controller() -> ThreadpoolController:
    """Return the thread pools of the loaded libraries, found once (finding them takes about a millisecond)."""
    return ThreadpoolController()
