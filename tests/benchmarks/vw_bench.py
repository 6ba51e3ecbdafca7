"""VW speed through our wrapper against raw vowpal-wabbit-next on the same examples, formatting included.

A simulated decision log (default scenario, uniform logging, the full context, every eligible action) gives the
rows. Each timing runs on a fresh frame (a clone, so the policy cannot reuse lines built for an earlier frame):

- *format*: the text lines alone (``shared_lines`` and the labelled action lines), no VW;
- *ours learn*: ``VowpalWabbitPolicy.learn`` on the whole log, from a fresh policy (formatting, parsing, learning);
- *ours probabilities*: ``VowpalWabbitPolicy.probabilities`` on every row (formatting, parsing, predicting);
- *raw learn* / *raw predict*: the same text lines, built beforehand, each row's multi-line example parsed with
  ``TextFormatParser.parse_line`` and passed to ``Workspace.learn_one`` / ``predict_one`` (parse + learn, parse +
  predict; no formatting).

Best of ``--repeat`` runs each; prints a Markdown table with examples/s and the ratio ours / raw, by wall time and
by CPU time (every thread of the process; the steadier figure on a shared machine).
Run: ``.venv/bin/python tests/benchmarks/vw_bench.py [--users 20000] [--days 14] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import vowpal_wabbit_next as vw  # noqa: E402

from policies.bandits.baselines import UniformRandom  # noqa: E402
from policies.bandits.vw import VowpalWabbitPolicy  # noqa: E402
from policies.bandits.vw_config import VWConfig, tuned_config  # noqa: E402
from policies.bandits.vw_format import action_line, labelled_lines, shared_lines  # noqa: E402
from policies.base import Feedback  # noqa: E402
from simulators.marketplace import MarketplaceSimulator  # noqa: E402
from simulators.scenario import load_scenario  # noqa: E402


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, float]:
    """Time ``repeat`` calls of ``run``: the shortest wall time and the shortest CPU time, in seconds.

    The CPU time counts every thread of the process; on a shared machine it is the steadier figure.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def example_lines(feedback: Feedback, labelled: bool) -> list[list[str]]:
    """Write each row's multi-line example as text, exactly as the policy builds them.

    The shared line, then one line per eligible action (the chosen one labelled with its cost and probability when
    ``labelled``).
    """
    shared = shared_lines(feedback.contexts)
    plain = [action_line(a) for a in feedback.actions]
    labels = labelled_lines(feedback.actions, feedback.chosen, -feedback.rewards, feedback.propensities)
    rows = []
    for row, head in enumerate(shared):
        lines = [head]
        for column in np.flatnonzero(feedback.eligible[row]).tolist():
            lines.append(labels[row] if labelled and column == feedback.chosen[row] else plain[column])
        rows.append(lines)
    return rows


def raw_learn(args: list[str], rows: list[list[str]]) -> None:
    """Parse and learn each row's example with vowpal-wabbit-next's public API."""
    workspace = vw.Workspace(args)
    parser = vw.TextFormatParser(workspace)
    for lines in rows:
        workspace.learn_one([parser.parse_line(line) for line in lines])


def raw_predict(workspace: vw.Workspace, rows: list[list[str]]) -> None:
    """Parse and predict each row's example with vowpal-wabbit-next's public API."""
    parser = vw.TextFormatParser(workspace)
    for lines in rows:
        workspace.predict_one([parser.parse_line(line) for line in lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--config", choices=("defaults", "tuned"), default="defaults", help="VWConfig's defaults or the shipped one"
    )
    args = parser.parse_args()
    config = tuned_config(0) if args.config == "tuned" else VWConfig(seed=0)

    scenario = load_scenario("default").with_size(n_users=args.users, days=args.days)
    log = MarketplaceSimulator(scenario).run(UniformRandom(), seed=0).bandit_log()
    feedback = Feedback.from_log(log)
    n = feedback.n_rounds

    def fresh() -> Feedback:
        return Feedback(
            feedback.contexts.clone(),
            feedback.actions,
            feedback.eligible,
            feedback.chosen,
            feedback.rewards,
            feedback.propensities,
        )

    learned_columns = VowpalWabbitPolicy(config=config)._features(feedback.contexts).columns

    def format_only() -> None:
        shared_lines(feedback.contexts.select(learned_columns).clone())
        labelled_lines(feedback.actions, feedback.chosen, -feedback.rewards, feedback.propensities)

    t_format = best_of(args.repeat, format_only)
    t_learn = best_of(args.repeat, lambda: VowpalWabbitPolicy(config=config).learn(fresh()))
    policy = VowpalWabbitPolicy(config=config)
    policy.learn(feedback)
    t_predict = best_of(
        args.repeat, lambda: policy.probabilities(feedback.contexts.clone(), feedback.actions, feedback.eligible)
    )

    vw_args = policy.vw_args()
    # raw VW gets the very columns the policy learns from (the config's features, log scales applied)
    inputs = dataclasses.replace(feedback, contexts=policy._features(feedback.contexts))
    labelled, unlabelled = example_lines(inputs, labelled=True), example_lines(inputs, labelled=False)
    t_raw_learn = best_of(args.repeat, lambda: raw_learn(vw_args, labelled))
    trained = vw.Workspace(vw_args)
    raw_learn_into = vw.TextFormatParser(trained)
    for lines in labelled:
        trained.learn_one([raw_learn_into.parse_line(line) for line in lines])
    t_raw_predict = best_of(args.repeat, lambda: raw_predict(trained, unlabelled))

    actions_per_row = feedback.eligible.sum(axis=1).mean()
    print(
        f"{n:,} decisions ({args.users} users × {args.days} days, default scenario, uniform logging), "
        f"{inputs.contexts.width} context columns learned ({args.config} config), "
        f"{actions_per_row:.2f} eligible actions per row on average; "
        f"best of {args.repeat}\n"
    )

    def row(what: str, times: tuple[float, float], raw: tuple[float, float] | None = None) -> None:
        ratios = "|  |  |" if raw is None else f"| {raw[0] / times[0]:.2f} | {raw[1] / times[1]:.2f} |"
        print(f"| {what} | {n / times[0]:,.0f} | {n / times[1]:,.0f} {ratios}")

    print("| what | examples/s (wall) | examples/s (CPU) | ours / raw (wall) | ours / raw (CPU) |")
    print("|---|---|---|---|---|")
    row("format alone: text lines (shared + labelled)", t_format)
    row("ours: learn (format + parse + learn)", t_learn, t_raw_learn)
    row("raw VW: parse + learn (lines prebuilt)", t_raw_learn)
    row("ours: probabilities (format + parse + predict)", t_predict, t_raw_predict)
    row("raw VW: parse + predict (lines prebuilt)", t_raw_predict)


if __name__ == "__main__":
    main()
