"""Rich metadata for the Dagster UI."""

from __future__ import annotations

import base64
import io

import dagster as dg
import matplotlib.pyplot as plt
import pandas as pd


def png_markdown(fig: plt.Figure) -> dg.MetadataValue:
    """A figure inlined as markdown, so the asset page shows the plot itself; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    encoded = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def markdown_table(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first ``rows`` rows as a markdown table (money with thousands separators)."""
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False, floatfmt=",.2f"))
