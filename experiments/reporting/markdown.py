"""A polars frame as a Markdown table, for benchmark scripts and notes.

Examples
--------
>>> import polars as pl
>>> print(markdown_table(pl.DataFrame({"policy": ["vw"], "captured": [0.51444]})))
| policy | captured |
|--------|----------|
| vw     | 0.5144   |
"""

from __future__ import annotations

import polars as pl


def markdown_table(table: pl.DataFrame, decimals: int = 4) -> str:
    """Every row and column of ``table`` as Markdown, floats to ``decimals`` places."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=1000,
        float_precision=decimals,
    ):
        return str(table)
