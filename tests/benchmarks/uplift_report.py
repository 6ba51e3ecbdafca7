"""Uplift versus risk targeting of a retention offer, against the simulator's truth (issue 9, item 7).

Trains the T- and X-learner on one randomised retention experiment (seed A) and evaluates on a fresh one
(seed B: another world, another assignment): for each share k targeted, the incremental retention per 1,000
at-risk customers when the top k are targeted by predicted uplift, by churn risk (the BG/NBD prior
``cb_p_churn``; and by days since the last session, the recency rule), at random, and by the true uplift.

Run::

    .venv/bin/python tests/benchmarks/uplift_report.py --users 20000 --train-seed 0 --eval-seed 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from features.churn.uplift import SHARES, TwoModelUplift, UpliftParams, XLearner, targeting_table
from simulators.retention import RetentionDesign, run_retention_experiment
from simulators.scenario import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--eval-seed", type=int, default=1)
    parser.add_argument("--horizon-days", type=int, default=14)
    args = parser.parse_args()

    scenario = load_scenario(args.scenario).with_size(n_users=args.users)
    design = RetentionDesign(horizon_days=args.horizon_days)
    started = time.perf_counter()
    train = run_retention_experiment(scenario, seed=args.train_seed, design=design)
    test = run_retention_experiment(scenario, seed=args.eval_seed, design=design)
    simulated = time.perf_counter() - started

    started = time.perf_counter()
    t_learner = TwoModelUplift(UpliftParams(seed=args.train_seed)).fit(train.frame, train.feature_columns)
    x_learner = XLearner(UpliftParams(seed=args.train_seed)).fit(train.frame, train.feature_columns)
    fitted = time.perf_counter() - started

    frame, tau = test.frame, test.true_uplift
    treated = frame["treated"].to_numpy() == 1
    returned = frame["returned"].to_numpy()
    scores = {
        "uplift_T": t_learner.predict_uplift(frame),
        "uplift_X": x_learner.predict_uplift(frame),
        "risk_bgnbd": frame["cb_p_churn"].to_numpy(),
        "risk_recency": frame["days_since_last_session"].fill_null(1e9).to_numpy().astype(float),
    }
    print(f"scenario {args.scenario}, {args.users} users, horizon {args.horizon_days} d, at-risk: cb_p_churn >= 0.5")
    print(f"train (seed {args.train_seed}): {train.frame.height} at-risk customers, as of {train.as_of:%Y-%m-%d}")
    print(f"eval  (seed {args.eval_seed}): {frame.height} at-risk customers")
    print(
        f"eval truth: mean p_control {frame['p_return_control'].mean():.4f}, mean uplift {tau.mean():.4f}; observed "
        f"difference in means {returned[treated].mean() - returned[~treated].mean():.4f}, treated share "
        f"{treated.mean():.3f}"
    )
    for name in ("uplift_T", "uplift_X"):
        print(f"corr({name}, true uplift) = {np.corrcoef(scores[name], tau)[0, 1]:.3f}")
    print(f"simulation {simulated:.1f} s (both experiments), fitting {fitted:.1f} s (T + X)\n")
    table = targeting_table(tau, scores, SHARES)
    with pl.Config(tbl_rows=20, tbl_hide_dataframe_shape=True, float_precision=1, tbl_hide_column_data_types=True):
        print("incremental returns per 1,000 at-risk customers when the top k are targeted")
        print(table.with_columns(pl.col("k") * 100))


if __name__ == "__main__":
    main()
