"""Trigger engine throughput: batch events/s (with and without the feature source's time) and streaming latency.

Run: ``.venv/bin/python tests/benchmarks/triggers_bench.py --events 1000000 --stream-events 50000``. Data is made
fresh by :mod:`tests.benchmarks.synthetic_events` (120 days, so 120 daily ticks, each building user features).
No timed assertions: this prints figures.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np
import polars as pl

from policies.triggers.config import load_trigger_config
from policies.triggers.engine import TriggerEngine
from policies.triggers.rules import stock_at_start
from policies.triggers.sources import EventLogFeatureSource
from tests.benchmarks.synthetic_events import synthetic_frames


class TimedSource:
    """A real :class:`EventLogFeatureSource` whose time is measured, so it can be taken out of the figure."""

    def __init__(self, source: EventLogFeatureSource) -> None:
        self.source = source
        self.seconds = 0.0

    def user_features(self, as_of: datetime) -> pl.DataFrame:
        start = time.perf_counter()
        frame = self.source.user_features(as_of)
        self.seconds += time.perf_counter() - start
        return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the batch run")
    parser.add_argument("--stream-events", type=int, default=50_000, help="events pushed one by one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    events, items, users = synthetic_frames(args.events, seed=args.seed)
    events = events.sort("ts", maintain_order=True)
    items = stock_at_start(items, events)
    config = load_trigger_config()
    source = TimedSource(EventLogFeatureSource(events, items, users))
    engine = TriggerEngine(config, items, users, features=source)
    start = time.perf_counter()
    moments = engine.run(events)
    total = time.perf_counter() - start
    engine_only = total - source.seconds
    print(f"batch: {events.height:,} events, {moments.height:,} moments in {total:.2f} s")
    print(f"  with feature source:    {events.height / total:,.0f} events/s ({source.seconds:.2f} s in the source)")
    print(f"  without feature source: {events.height / engine_only:,.0f} events/s")
    stream = events.head(args.stream_events)
    engine = TriggerEngine(config, items, users, features=TimedSource(EventLogFeatureSource(events, items, users)))
    latencies = np.empty(stream.height)
    for i, event in enumerate(stream.iter_rows(named=True)):
        start = time.perf_counter()
        engine.push(event)
        latencies[i] = time.perf_counter() - start
    ms = latencies * 1000
    print(
        f"stream: {stream.height:,} events pushed; per event p50 {np.percentile(ms, 50):.3f} ms, "
        f"p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.1f} ms (ticks included)"
    )


if __name__ == "__main__":
    main()
