"""``offerlab triggers run``: the trigger engine and the guardrails over an event log, one UTC date at a time.

The command reads events, items and users (Parquet or CSV, the EVENTS / ITEMS / USERS contracts), checks all of
them and the trigger config before anything runs, then feeds the log to a
:class:`~policies.triggers.engine.TriggerEngine` day by day, each date's events followed by the
:class:`~policies.triggers.guardrails.Guardrails` for that date's moments, as the platform does in production
and inside the simulator. It writes ``moments.parquet`` (MOMENTS: everything the engine fired),
``kept.parquet`` (DECIDABLE_MOMENTS) and ``suppressions.parquet`` (SUPPRESSIONS, with ``suppressed_by`` and
``why``), each atomically, and logs one MLflow run with the counts and the three files.

Examples
--------
>>> parse_time("--since", "2026-03-02")
datetime.datetime(2026, 3, 2, 0, 0, tzinfo=datetime.timezone.utc)
>>> parse_time("--until", "soon")
Traceback (most recent call last):
...
ValueError: --until: 'soon' is not an ISO date or timestamp (e.g. 2026-03-20 or 2026-03-20T12:00)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from experiments.cli.app import platform_config, progress_bar
from experiments.cli.errors import user_errors_exit_2
from experiments.cli.features import ChurnScoresOpt, EventsOpt, ItemsOpt, UsersOpt, load_inputs, parse_as_of

if TYPE_CHECKING:
    import polars as pl

    from features.lifecycle import ChurnScorer
    from policies.triggers.config import TriggerConfig

console = Console()
app = typer.Typer(help="Trigger moments and guardrails over an event log.", no_args_is_help=True)

#: The files ``triggers run`` writes in ``--out``, by what they hold.
OUTPUT_FILES: dict[str, str] = {
    "moments": "moments.parquet",
    "kept": "kept.parquet",
    "suppressions": "suppressions.parquet",
}
_TICK = timedelta(microseconds=1)


def parse_time(option: str, text: str | None) -> datetime | None:
    """Read ``text`` as a UTC instant (see :func:`experiments.cli.features.parse_as_of`).

    A message names ``option`` if it is not one; ``None`` stays ``None``.
    """
    if text is None:
        return None
    try:
        return parse_as_of(text)
    except ValueError as error:
        raise ValueError(str(error).replace("--as-of", option, 1)) from None


@dataclass(frozen=True)
class TriggerInputs:
    """A checked event log and the window to run it over.

    Attributes
    ----------
    events
        Events strictly before ``until``, sorted by ``ts`` (EVENTS, UTC).
    items
        The catalogue with ``stock`` as it was before the first event (the file holds the final stock).
    users
        The users table (USERS).
    since
        Moments from this instant on are reported; the events before it still build the engine's and the
        guardrails' state.
    until
        Exclusive end of the run: events at or after it are left out, timers fire up to just before it.
    """

    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    since: datetime
    until: datetime

    @property
    def days(self) -> list[date]:
        """The UTC dates the run goes through, from the first event's to the one holding ``until - 1 µs``."""
        first = self.events.get_column("ts").min()
        assert isinstance(first, datetime)
        last = (self.until - _TICK).date()
        return [first.date() + timedelta(days=k) for k in range((last - first.date()).days + 1)]


@dataclass(frozen=True)
class TriggerRun:
    """What :func:`run_day_by_day` made of a log: MOMENTS, DECIDABLE_MOMENTS and SUPPRESSIONS frames."""

    moments: pl.DataFrame
    kept: pl.DataFrame
    suppressions: pl.DataFrame
    days: list[date] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """Moments, kept and suppressed, by trigger kind, by trigger and by suppression reason."""
        from features.schemas import TRIGGER_KIND_NAMES, TRIGGER_KINDS

        def by(frame: pl.DataFrame, column: str, names: list[str] | tuple[str, ...]) -> dict[str, int]:
            found = dict(frame.get_column(column).value_counts().iter_rows())
            return {name: int(found.get(name, 0)) for name in names}

        reasons = sorted(self.suppressions.get_column("suppressed_by").unique().to_list())
        return {
            "days": len(self.days),
            "moments": self.moments.height,
            "kept": self.kept.height,
            "suppressed": self.suppressions.height,
            "moments_by_kind": by(self.moments, "trigger_kind", TRIGGER_KIND_NAMES),
            "kept_by_kind": by(self.kept, "trigger_kind", TRIGGER_KIND_NAMES),
            "moments_by_trigger": by(self.moments, "trigger", list(TRIGGER_KINDS)),
            "suppressed_by": by(self.suppressions, "suppressed_by", reasons),
        }


def check_inputs(events: Path, items: Path, users: Path, since: str | None, until: str | None) -> TriggerInputs:
    """Read and check the three inputs and the window; every fault raises before anything runs.

    Beyond the contracts (:func:`experiments.cli.features.load_inputs`: columns, dtypes, null and duplicate
    ids), the events must be sorted by ``ts`` and the window ``[since, until)`` must hold events.
    """
    import polars as pl

    from policies.triggers.rules import stock_at_start

    start, end = parse_time("--since", since), parse_time("--until", until)
    if start is not None and end is not None and start >= end:
        raise ValueError(f"--since {start.isoformat()} is not before --until {end.isoformat()}")
    event_frame, item_frame, user_frame = (frame.collect() for frame in load_inputs(events, items, users))
    stamps = event_frame.get_column("ts").dt.convert_time_zone("UTC")
    if not stamps.is_sorted():
        row = int((stamps.diff() < timedelta(0)).arg_max() or 0)
        raise ValueError(
            f"events: not sorted by ts at row {row} (event {event_frame['event_id'][row]} at {stamps[row]} "
            f"comes after {stamps[row - 1]})"
        )
    event_frame = event_frame.with_columns(stamps.alias("ts"))
    first, last = stamps[0], stamps[-1]
    if end is None:
        end = datetime.combine(last.date() + timedelta(days=1), time(), tzinfo=UTC)
    if end <= first:
        raise ValueError(f"--until {end.isoformat()} is at or before the first event ({first.isoformat()})")
    if start is not None and start > last:
        raise ValueError(f"--since {start.isoformat()} is after the last event ({last.isoformat()})")
    return TriggerInputs(
        events=event_frame.filter(pl.col("ts") < end),
        items=stock_at_start(item_frame, event_frame),
        users=user_frame,
        since=start if start is not None else first,
        until=end,
    )


def run_day_by_day(
    config: TriggerConfig,
    inputs: TriggerInputs,
    on_day: Callable[[date], None] | None = None,
    scorer: ChurnScorer | None = None,
) -> TriggerRun:
    """Run the trigger engine and the guardrails over the log, one UTC date at a time.

    Each date's events go to :meth:`Guardrails.observe` (unsubscribes) and :meth:`TriggerEngine.run` (timers
    and the daily tick fire up to the end of the date), then the date's moments go through
    :meth:`Guardrails.apply`. The daily rules read user features from an
    :class:`~policies.triggers.sources.EventLogFeatureSource` over the log (point in time: only events before
    each tick). Moments before ``inputs.since`` go through the same steps, so that caps and cooldowns see
    them, but are not returned.

    Parameters
    ----------
    config
        The trigger engine's rules and the guardrails' settings.
    inputs
        The checked log and window (:func:`check_inputs`).
    on_day
        Called with each date once it is done.
    scorer
        Churn risk for the lifecycle rule and stages (default: the recency rule).
    """
    import polars as pl

    from features.schemas import DECIDABLE_MOMENTS, MOMENTS, SUPPRESSIONS
    from policies.triggers.engine import TriggerEngine
    from policies.triggers.guardrails import Guardrails
    from policies.triggers.sources import EventLogFeatureSource

    source = EventLogFeatureSource(inputs.events, inputs.items, inputs.users)
    engine = TriggerEngine(config, inputs.items, inputs.users, features=source, scorer=scorer)
    guardrails = Guardrails(config.guardrails, inputs.users)
    reported = pl.col("ts") >= inputs.since
    parts: dict[str, list[pl.DataFrame]] = {"moments": [], "kept": [], "suppressions": []}
    for day in inputs.days:
        start = datetime.combine(day, time(), tzinfo=UTC)
        end = min(start + timedelta(days=1), inputs.until)
        todays = inputs.events.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        guardrails.observe(todays)
        moments = engine.run(todays, until=end - _TICK)
        result = guardrails.apply(moments)
        parts["moments"].append(moments.filter(reported))
        parts["kept"].append(result.kept.filter(reported))
        parts["suppressions"].append(result.suppressed.filter(reported))
        if on_day is not None:
            on_day(day)
    schemas = {"moments": MOMENTS, "kept": DECIDABLE_MOMENTS, "suppressions": SUPPRESSIONS}
    frames = {
        name: pl.concat([pl.DataFrame(schema=schemas[name]), *(p.select(schemas[name].names()) for p in parts[name])])
        for name in parts
    }
    return TriggerRun(frames["moments"], frames["kept"], frames["suppressions"], inputs.days)


def _counts_table(counts: dict[str, Any]) -> Table:
    table = Table(title=f"trigger moments over {counts['days']} day(s)")
    table.add_column("trigger kind")
    table.add_column("moments", justify="right")
    table.add_column("kept", justify="right")
    for kind, n in counts["moments_by_kind"].items():
        table.add_row(kind, f"{n:,}", f"{counts['kept_by_kind'][kind]:,}")
    table.add_row("all", f"{counts['moments']:,}", f"{counts['kept']:,}", style="bold")
    return table


def _reasons_table(counts: dict[str, Any]) -> Table:
    table = Table(title=f"{counts['suppressed']:,} suppressed, by guardrail")
    table.add_column("suppressed_by")
    table.add_column("moments", justify="right")
    table.add_column("share", justify="right")
    for reason, n in sorted(counts["suppressed_by"].items(), key=lambda kv: -kv[1]):
        table.add_row(reason, f"{n:,}", f"{n / max(counts['moments'], 1):.1%}")
    return table


@app.command()
@user_errors_exit_2
def run(
    events: EventsOpt,
    items: ItemsOpt,
    users: UsersOpt,
    out: Annotated[Path, typer.Option(help="Folder for moments.parquet, kept.parquet and suppressions.parquet.")],
    config: Annotated[
        Path | None, typer.Option(help="Trigger engine YAML (rules, guardrails); default: the shipped one.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Report moments from this instant on (ISO; UTC); earlier events still build the state."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Leave out events at or after this (ISO; UTC); default: the last event's date's end."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as one JSON object.")] = False,
    churn_scores: ChurnScoresOpt = None,
) -> None:
    """Run the trigger engine and the guardrails over an event log, day by day.

    Writes moments, kept and suppressions.
    """
    import mlflow

    from experiments.tracking import tracked_run
    from features.churn.scorer import ChurnScores
    from features.io import write_frame
    from policies.triggers.config import load_trigger_config

    settings = load_trigger_config(config)
    inputs = check_inputs(events, items, users, since, until)
    scorer = ChurnScores.read(churn_scores) if churn_scores is not None else None
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    with progress_bar("running triggers", len(inputs.days)) as progress:
        task = progress.add_task("days", total=len(inputs.days))
        result = run_day_by_day(settings, inputs, on_day=lambda _: progress.advance(task), scorer=scorer)
    paths = {name: out / filename for name, filename in OUTPUT_FILES.items()}
    for name, path in paths.items():
        write_frame(getattr(result, name), path)
    counts = result.counts()
    params = {
        "events": str(events),
        "items": str(items),
        "users": str(users),
        "config": str(config) if config is not None else "default",
        "churn_scores": str(churn_scores) if churn_scores is not None else "rule",
        "since": inputs.since.isoformat(),
        "until": inputs.until.isoformat(),
        "out": str(out),
    }
    metrics = {
        "days": counts["days"],
        "moments": counts["moments"],
        "kept": counts["kept"],
        "suppressed": counts["suppressed"],
        **{f"moments_{kind}": n for kind, n in counts["moments_by_kind"].items()},
        **{f"suppressed_{reason}": n for reason, n in counts["suppressed_by"].items()},
    }
    with tracked_run(platform_config(), "triggers", params, run_name=f"triggers-{inputs.until:%Y%m%d}") as tracked:
        mlflow.log_metrics(metrics)
        for path in paths.values():
            mlflow.log_artifact(str(path))
    counts["run_id"] = tracked.info.run_id
    if as_json:
        print(json.dumps(counts))
        return
    console.print(_counts_table(counts))
    console.print(_reasons_table(counts))
    console.print(f"MLflow run {tracked.info.run_id}; files in {out}")
