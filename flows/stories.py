"""Story assignment step of the ingest flow: articles without a story get one (balkanwatch.dedupe decides)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from balkanwatch.dedupe import STORY_WINDOW_DAYS, StoryIndex, shingle_hashes, time_groups
from warehouse import Warehouse


@dataclass(frozen=True)
class StoryCounts:
    new_stories: int
    new_copies: int


def assign_stories(wh: Warehouse) -> StoryCounts:
    """Assign every unassigned article, oldest first, against the stories of STORY_WINDOW_DAYS around it (from a
    window before the oldest of its group to a window after the newest: `time_groups`).

    Runs after the run's loads, so articles of a crashed run are picked up by the next one; assignment is
    deterministic given the warehouse, and existing labels are never changed."""
    todo = wh.unassigned_articles()
    if not todo:
        return StoryCounts(0, 0)
    window = timedelta(days=STORY_WINDOW_DAYS)
    rows = []
    for start, end in time_groups([t[2] for t in todo], window):   # each group against its own window
        group = todo[start:end]
        index = StoryIndex()
        index.add_columns(wh.story_window(group[0][2] - window, group[-1][2] + window))
        for article_id, text, when, sketch, keys, head in group:
            hashes = frozenset(sketch) if sketch is not None else shingle_hashes(text)
            rows.append((index.assign(article_id, hashes, keys, head), when, sorted(hashes), keys))
    wh.record_stories(rows)
    new = sum(a.rule == "new-story" for a, *_ in rows)
    return StoryCounts(new_stories=new, new_copies=len(rows) - new)
