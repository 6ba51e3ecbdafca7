"""Off-policy estimators against the simulator's truth: bias, RMSE and 95% interval coverage over seeds (issue 10).

Every shipped scenario, seeds 0..49, 3,000 users x 14 days under uniform logging; targets: always a coupon, the
rules, the oracle with 20% exploration; every registered estimator (the model-based ones with the cross-fitted
LightGBM reward model); bootstrap resampling users. See :mod:`experiments.ope_study` for the estimand.

Run (about 20 minutes on one core, nearly all of it simulation; simulated logs are cached, so a re-run only
re-estimates: about 80 s)::

    .venv/bin/python tests/benchmarks/ope_study.py --seeds 50 --users 3000 --days 14 --out /tmp/ope_study.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from experiments.ope_study import LOGGERS, TARGETS, cross_fitted_reward_model, run_study, summarise_study
from experiments.reporting.markdown import markdown_table
from features.io import write_bytes, write_frame
from simulators.scenario import scenario_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=scenario_names(), help="default: every shipped scenario")
    parser.add_argument("--seeds", type=int, default=50, help="seeds 0..N-1 per scenario")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--logger", choices=LOGGERS, default="uniform")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--estimators", nargs="+", default=None, help="default: every registered estimator")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--interval", choices=("bootstrap", "normal"), default="bootstrap")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "offerlab-ope-study")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown table is written here")
    parser.add_argument("--raw", type=Path, default=None, help="optional Parquet file of the per-seed rows")
    args = parser.parse_args()

    started = time.perf_counter()

    def progress(scenario: str, seed: int) -> None:
        print(f"{time.perf_counter() - started:7.1f} s  {scenario} seed {seed}", file=sys.stderr, flush=True)

    raw = run_study(
        args.scenarios,
        seeds=range(args.seeds),
        n_users=args.users,
        days=args.days,
        logger=args.logger,
        targets=args.targets,
        estimators=args.estimators,
        reward_model=cross_fitted_reward_model,
        n_bootstrap=args.n_bootstrap,
        interval=args.interval,
        cache=args.cache,
        on_log=progress,
    )
    if args.raw is not None:
        write_frame(raw, args.raw)
    table = summarise_study(raw)
    resamples = f" ({args.n_bootstrap} resamples)" if args.interval == "bootstrap" else ""
    header = (
        f"OPE study: {args.seeds} seeds per scenario, {args.users} users x {args.days} days, {args.logger} "
        f"logging, 95% {args.interval} intervals clustered by user{resamples}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    text = f"{header}\n\n{markdown_table(table)}\n"
    print(text)
    write_bytes(text.encode(), args.out)


if __name__ == "__main__":
    main()
