"""The PNG chart an alert e-mail embeds: a topic's unique stories per bucket against the detector's baseline."""

from __future__ import annotations

import io
from datetime import timedelta

from balkanwatch.alerting import Spike, TopicSeries


def render_chart(series: TopicSeries, spike: Spike, days: float = 3.0) -> bytes:
    """PNG bytes: bars of unique stories per bucket over the last `days`, the expected line, the spike marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cutoff = series.starts[-1] - timedelta(days=days) if series.starts else None
    idx = [i for i, t in enumerate(series.starts) if cutoff is None or t > cutoff]
    times = [series.starts[i] for i in idx]
    width = series.bucket / timedelta(days=1)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    try:
        ax.bar(times, [series.counts[i] for i in idx], width=width * 0.9, align="edge", color="#7a9cc6",
               label="unique stories")
        ax.step(times, [series.scored[i].expected for i in idx], where="post", color="#d0602a",
                label="expected (baseline)")
        ax.axvspan(spike.window_start, spike.window_end, color="#d62728", alpha=0.15, label="spike")
        ax.set_title(f"{spike.watchlist}: {spike.observed:.0f} stories vs {spike.expected:.1f} expected")
        ax.set_ylabel(f"stories per {int(series.bucket.total_seconds() // 60)} min")
        ax.legend(loc="upper left", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
