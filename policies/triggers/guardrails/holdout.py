"""The global holdout's draw: a stable uniform number per user id, so the same users are held out everywhere.

Examples
--------
>>> holdout_draw(["u1", "u2"], "offerlab-holdout").round(3)
array([0.353, 0.26 ])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def holdout_draw(user_ids: Sequence[str], salt: str) -> np.ndarray:
    """Draw a uniform number in [0, 1] per user id, the same in every process and on every machine.

    The first 8 bytes of BLAKE2b(salt, NUL, id) over 2**64 (``hash()`` would differ between processes).
    """
    prefix = salt.encode() + b"\x00"
    draws = [int.from_bytes(hashlib.blake2b(prefix + u.encode(), digest_size=8).digest(), "big") for u in user_ids]
    return np.array(draws, dtype=np.uint64).astype(np.float64) / 2.0**64
