"""The names every churn module shares: the label, the snapshot and the BG/NBD inputs (one definition each).

Examples
--------
>>> LABEL, SNAPSHOT, BGNBD_COLUMNS
('churned', 'snapshot', ('bgnbd_frequency', 'bgnbd_recency', 'bgnbd_T'))
"""

from __future__ import annotations

#: 1 if the customer made no purchase within the horizon after the snapshot, else 0.
LABEL = "churned"
#: The moment features are computed as of (UTC).
SNAPSHOT = "snapshot"
#: The BG/NBD inputs (x, t_x, T in days) carried beside the features; never model inputs themselves.
BGNBD_COLUMNS: tuple[str, ...] = ("bgnbd_frequency", "bgnbd_recency", "bgnbd_T")
