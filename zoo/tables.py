"""Markdown tables from pandas frames, for the reports of searches and studies."""

from __future__ import annotations

import numpy as np


def markdown_table(frame, float_format="{:.5f}") -> str:
    """A pandas frame as a Markdown table (no extra dependency); NaN prints empty."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return float_format.format(v) if np.isfinite(v) else ""
        return str(v)

    rows = [" | ".join(map(str, frame.columns)), " | ".join("---" for _ in frame.columns)]
    rows += [" | ".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(f"| {r} |" for r in rows)
