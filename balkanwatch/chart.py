"""PNG charts: the one an alert e-mail embeds (a topic's unique stories per bucket against the detector's
baseline), and the topics overview of every alerts cycle (small multiples of the last week)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from balkanwatch.alerting import Spike, TopicSeries, as_utc


@contextmanager
def _figure(*args: Any, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """(figure, axes) of `plt.subplots(*args, **kwargs)` on the headless Agg backend, closed on leaving.
    matplotlib is imported on first use: flows start faster."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
    finally:
        plt.close(fig)


def _recent(series: TopicSeries, days: float) -> list[int]:
    """Indexes of the buckets of the last `days` of a series."""
    cutoff = series.starts[-1] - timedelta(days=days) if series.starts else None
    return [i for i, t in enumerate(series.starts) if cutoff is None or t > cutoff]


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes, dates on the x axis laid out."""
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _local(when: datetime, tz: tzinfo) -> datetime:
    """A stored time (naive UTC) as the wall-clock time in `tz`, naive, for the chart's axis."""
    return as_utc(when).astimezone(tz).replace(tzinfo=None)


def render_chart(series: TopicSeries, spike: Spike, days: float = 3.0, tz: tzinfo = UTC) -> bytes:
    """PNG bytes: bars of unique stories per bucket over the last `days`, the expected line, the spike marked;
    the time axis in `tz` (alerts.timezone, as the e-mail's text)."""
    idx = _recent(series, days)
    times = [_local(series.starts[i], tz) for i in idx]
    width = series.bucket / timedelta(days=1)
    with _figure(figsize=(8, 3.2), dpi=100) as (fig, ax):
        ax.bar(times, [series.counts[i] for i in idx], width=width * 0.9, align="edge", color="#7a9cc6",
               label="unique stories")
        ax.step(times, [series.scored[i].expected for i in idx], where="post", color="#d0602a",
                label="expected (baseline)")
        ax.axvspan(_local(spike.window_start, tz), _local(spike.window_end, tz), color="#d62728", alpha=0.15,
                   label="spike")
        ax.set_xlabel(f"time ({tz})", fontsize=8)
        ax.set_title(f"{spike.watchlist}: {spike.observed:.0f} stories vs {spike.expected:.1f} expected")
        ax.set_ylabel(f"stories per {int(series.bucket.total_seconds() // 60)} min")
        ax.legend(loc="upper left", fontsize=8)
        return _png(fig)


TOPICS_SHOWN = 12      # small multiples in the topics overview: the busiest topics of the last week


def render_topics(series: Sequence[TopicSeries], days: float = 7.0) -> bytes:
    """PNG bytes: one small panel per topic (up to TOPICS_SHOWN, busiest first) with its unique stories per
    bucket over the last `days` against the detector's expectation."""
    shown = list(series)[:TOPICS_SHOWN]
    cols = 2 if len(shown) > 1 else 1
    rows = max(1, -(-len(shown) // cols))
    with _figure(rows, cols, figsize=(4.2 * cols, 1.6 * rows), dpi=80, squeeze=False, sharex=True) as (fig, axes):
        for ax, ts in zip(axes.flat, shown, strict=False):
            idx = _recent(ts, days)
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
        return _png(fig)
