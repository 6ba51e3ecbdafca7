"""``offerlab features``: build features from event logs, keep the offline store, refresh the online snapshot."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from experiments.cli.app import platform_config, progress_bar
from experiments.cli.errors import user_errors_exit_2

console = Console()
errors = Console(stderr=True)
app = typer.Typer(help="Feature pipelines: build, offline store, online snapshot.", no_args_is_help=True)

EventsOpt = Annotated[Path, typer.Option(help="Events: Parquet file, folder of Parquet files, or CSV.")]
ChurnScoresOpt = Annotated[
    Path | None,
    typer.Option(
        help="A churn model's scores (user_id, churn_risk; `offerlab churn score --out`): the lifecycle stage "
        "uses them instead of the recency rule."
    ),
]
ItemsOpt = Annotated[Path, typer.Option(help="Items: Parquet or CSV.")]
UsersOpt = Annotated[Path, typer.Option(help="Users: Parquet or CSV.")]


def parse_as_of(text: str) -> datetime:
    """Read an ISO date or timestamp; a date means its midnight UTC, a naive timestamp is read as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(
            f"--as-of: {text!r} is not an ISO date or timestamp (e.g. 2026-03-20 or 2026-03-20T12:00)"
        ) from error
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_inputs(events: Path, items: Path, users: Path) -> tuple[Any, Any, Any]:
    """Scan and validate the three inputs (names, dtypes, null and duplicate ids) before anything is built."""
    from features.io import scan_frame
    from features.schemas import EVENTS, ITEMS, USERS
    from features.validation import validate_lazy

    event_frame = validate_lazy(
        scan_frame(events), EVENTS, "events", unique="event_id", not_null=("ts", "user_id", "type")
    )
    item_frame = validate_lazy(scan_frame(items), ITEMS, "items", unique="item_id", not_null=("category", "price"))
    user_frame = validate_lazy(scan_frame(users), USERS, "users", unique="user_id")
    return event_frame, item_frame, user_frame


@app.command()
@user_errors_exit_2
def build(
    events: EventsOpt,
    items: ItemsOpt,
    users: UsersOpt,
    as_of: Annotated[str, typer.Option(help="Features use only events strictly before this (ISO; UTC).")],
    out: Annotated[Path, typer.Option(help="Folder for user_features.parquet and item_features.parquet.")],
) -> None:
    """User and item features as of a moment, point-in-time correct, Parquet in and out."""
    import mlflow

    from experiments.tracking import tracked_run
    from features.io import write_frame
    from features.pipelines import build_item_features, build_user_features

    cut = parse_as_of(as_of)
    event_frame, item_frame, user_frame = load_inputs(events, items, users)
    timings: dict[str, float] = {}
    with progress_bar("building features", 3) as progress:
        task = progress.add_task("features", total=3)
        started = time.perf_counter()
        user_features = build_user_features(event_frame, item_frame, user_frame, cut).collect()
        timings["user_seconds"] = time.perf_counter() - started
        progress.advance(task)
        started = time.perf_counter()
        item_features = build_item_features(event_frame, item_frame, cut).collect()
        timings["item_seconds"] = time.perf_counter() - started
        progress.advance(task)
        write_frame(user_features, out / "user_features.parquet")
        write_frame(item_features, out / "item_features.parquet")
        progress.advance(task)
    params = {
        "events": str(events),
        "items": str(items),
        "users": str(users),
        "as_of": cut.isoformat(),
        "out": str(out),
    }
    with tracked_run(platform_config(), "features", params, run_name=f"features-{cut:%Y%m%d}"):
        mlflow.log_metrics({"user_rows": user_features.height, "item_rows": item_features.height, **timings})
        mlflow.log_dict(
            {
                "user_features": {k: str(v) for k, v in user_features.schema.items()},
                "item_features": {k: str(v) for k, v in item_features.schema.items()},
            },
            "schema.json",
        )
    console.print(
        f"{user_features.height:,} users × {user_features.width - 1} features "
        f"({timings['user_seconds']:.2f}s), {item_features.height:,} items × {item_features.width - 1} features "
        f"({timings['item_seconds']:.2f}s) as of {cut.isoformat()} → {out}"
    )


@app.command()
@user_errors_exit_2
def store(
    events: EventsOpt,
    items: ItemsOpt,
    users: UsersOpt,
    root: Annotated[Path, typer.Option("--store", help="The offline store's folder.")],
    until: Annotated[
        str | None, typer.Option(help="Add days up to this date (default: the day after the last event).")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Recompute every day, not only the missing ones.")] = False,
) -> None:
    """Add the missing days to the offline store (Parquet by date) and write the snapshot as of ``--until``."""
    import mlflow
    import polars as pl

    from experiments.tracking import tracked_run
    from features.stores import OfflineStore

    event_frame, item_frame, user_frame = load_inputs(events, items, users)
    first, last = (
        event_frame.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")).collect().row(0)
    )
    end = parse_as_of(until).date() if until else last.date() + timedelta(days=1)
    offline = OfflineStore(root)
    with progress_bar("adding days", (end - first.date()).days) as progress:
        task = progress.add_task("days", total=(end - first.date()).days)
        started = time.perf_counter()
        added = offline.update(
            event_frame,
            item_frame,
            user_frame,
            until=end,
            since=first.date(),
            rebuild=rebuild,
            on_day=lambda _: progress.advance(task),
        )
    seconds = time.perf_counter() - started
    with tracked_run(platform_config(), "features", {"store": str(root), "until": end.isoformat(), "rebuild": rebuild}):
        mlflow.log_metrics({"days_added": len(added), "days_in_store": len(offline.days()), "seconds": seconds})
    console.print(f"{len(added)} day(s) added ({seconds:.1f}s); {len(offline.days())} in {root}; snapshot as of {end}")


@app.command()
@user_errors_exit_2
def snapshot(
    root: Annotated[Path, typer.Option("--store", help="The offline store's folder.")],
    out: Annotated[Path, typer.Option(help="Folder of the online snapshot the endpoint loads.")],
    as_of: Annotated[str | None, typer.Option(help="Snapshot date (default: the latest in the store).")] = None,
    churn_scores: ChurnScoresOpt = None,
) -> None:
    """Refresh the online snapshot (latest user and item features) from the offline store.

    With ``--churn-scores``, each scored user's row carries the model's ``churn_risk`` (the others: the rule's).
    """
    from features.churn.scorer import ChurnScores
    from features.stores import OfflineStore, OnlineSnapshot

    offline = OfflineStore(root)
    folder = root / "snapshots" / "users"
    stored = (
        sorted(date.fromisoformat(p.name.removeprefix("date=")) for p in folder.glob("date=*"))
        if folder.exists()
        else []
    )
    if not stored:
        raise FileNotFoundError(f"{root}: no snapshots yet; run `offerlab features store` first")
    day = parse_as_of(as_of).date() if as_of else stored[-1]
    scores = ChurnScores.read(churn_scores) if churn_scores is not None else None
    features = offline.snapshot(day)
    users = features.users
    if scores is not None:
        users = users.drop("churn_risk", strict=False).join(scores.risk_, on="user_id", how="left")
    OnlineSnapshot(users, features.items, features.as_of).save(out)
    console.print(
        f"online snapshot as of {features.as_of.isoformat()}: {features.users.height:,} users, "
        f"{features.items.height:,} items → {out}"
    )
