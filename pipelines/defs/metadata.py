"""Rich metadata for the Dagster UI."""

from __future__ import annotations

import base64
import io

import dagster as dg
import matplotlib.pyplot as plt


def png_markdown(fig: plt.Figure) -> dg.MetadataValue:
    """A figure inlined as markdown, so the asset page shows the plot itself; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    encoded = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")
