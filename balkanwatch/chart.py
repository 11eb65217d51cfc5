"""PNG charts: the one an alert e-mail embeds (a topic's unique stories per bucket against the detector's
baseline), and the topics overview of every alerts cycle (small multiples of the last week)."""

from __future__ import annotations

import io
from collections.abc import Sequence
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


TOPICS_SHOWN = 12      # small multiples in the topics overview: the busiest topics of the last week


def render_topics(series: Sequence[TopicSeries], days: float = 7.0) -> bytes:
    """PNG bytes: one small panel per topic (up to TOPICS_SHOWN, busiest first) with its unique stories per
    bucket over the last `days` against the detector's expectation."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    shown = list(series)[:TOPICS_SHOWN]
    cols = 2 if len(shown) > 1 else 1
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 1.6 * rows), dpi=80, squeeze=False, sharex=True)
    try:
        for ax, ts in zip(axes.flat, shown, strict=False):
            cutoff = ts.starts[-1] - timedelta(days=days) if ts.starts else None
            idx = [i for i, t in enumerate(ts.starts) if cutoff is None or t > cutoff]
            times = [ts.starts[i] for i in idx]
            ax.bar(times, [ts.counts[i] for i in idx], width=ts.bucket / timedelta(days=1), align="edge",
                   color="#7a9cc6")
            ax.step(times, [ts.scored[i].expected for i in idx], where="post", color="#d0602a", linewidth=1)
            for i in idx:
                if ts.scored[i].alert:
                    ax.axvline(ts.starts[i], color="#d62728", linewidth=1)
            ax.set_title(ts.watchlist[:40], fontsize=8, loc="left")
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(shown):]:
            ax.set_visible(False)
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
