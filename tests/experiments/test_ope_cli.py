"""``offerlab ope`` as a real process: any log, any target, the JSON contract, the files, the exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from experiments.cli import application
from features.schemas import ACTIONS
from policies.bandits.dsjson import write_dsjson
from policies.serving.config import OfferlabConfig, configure_mlflow


def offerlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", "ope", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=cwd,
        timeout=300,
    )


def table(probs: np.ndarray, actions: tuple[str, ...] = ACTIONS) -> pl.DataFrame:
    return pl.DataFrame({f"p_{a}": probs[:, i] for i, a in enumerate(actions)})


def coupon(n: int) -> pl.DataFrame:
    return table(np.tile([0.0, 1.0, 0.0, 0.0], (n, 1)))


def test_json_is_exactly_one_object_with_the_contract(
    store: OfferlabConfig, small_log_file: Path, tmp_path: Path
) -> None:
    n = pl.read_parquet(small_log_file).height
    coupon(n).write_csv(tmp_path / "target.csv")
    result = offerlab(
        "--log",
        str(small_log_file),
        "--target-probs",
        str(tmp_path / "target.csv"),
        "--json",
        "--bootstrap",
        "200",
        "--estimators",
        "ips,snips,dm,dr,sndr,switch-dr,dr-os",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # one object: anything else on stdout fails here
    assert payload["n_rounds"] == n
    assert payload["n_actions"] == 4
    assert list(payload["estimates"]) == ["ips", "snips", "dm", "dr", "sndr", "switch-dr", "dr-os"]
    for row in payload["estimates"].values():
        assert set(row) == {"value", "lower", "upper", "se"}
        assert row["lower"] <= row["value"] <= row["upper"]
        assert row["se"] > 0
    for name in ("effective_sample_size", "ess_ratio", "max_weight", "mean_weight", "support_deficit_rate"):
        assert name in payload["diagnostics"]
    assert payload["diagnostics"]["warnings"] == []
    assert payload["settings"]["clustered_by_user"] is True
    assert payload["settings"]["reward_model"] == "cross-fitted"


def test_the_table_by_default(store: OfferlabConfig, small_log_file: Path, tmp_path: Path) -> None:
    coupon(pl.read_parquet(small_log_file).height).write_parquet(tmp_path / "target.parquet")
    result = offerlab(
        "--log", str(small_log_file), "--target-probs", str(tmp_path / "target.parquet"), "--bootstrap", "100"
    )
    assert result.returncode == 0, result.stderr
    for text in ("ips", "snips", "dr", "logged (on-policy)", "95% interval", "lift over logged", "ESS"):
        assert text in result.stdout


@pytest.mark.slow
def test_out_writes_json_report_and_an_mlflow_run(store: OfferlabConfig, small_log_file: Path, tmp_path: Path) -> None:
    coupon(pl.read_parquet(small_log_file).height).write_csv(tmp_path / "target.csv")
    out = tmp_path / "report"
    result = offerlab(
        "--log",
        str(small_log_file),
        "--target-probs",
        str(tmp_path / "target.csv"),
        "--out",
        str(out),
        "--estimators",
        "snips",
        "--bootstrap",
        "100",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ope.json", "report.html"]
    saved = json.loads((out / "ope.json").read_text())
    printed = json.loads(result.stdout)
    assert saved["estimates"] == printed["estimates"]
    assert saved["run_id"] == printed["run_id"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "SNIPS" in html
    configure_mlflow(store)
    run = MlflowClient().get_run(saved["run_id"])
    assert run.data.metrics["snips_value"] == pytest.approx(saved["estimates"]["snips"]["value"])
    artifacts = {a.path for a in MlflowClient().list_artifacts(saved["run_id"])}
    assert {"ope.json", "report.html"} <= artifacts


def test_strict_exits_3_when_a_diagnostic_warns(store: OfferlabConfig, small_log_file: Path, tmp_path: Path) -> None:
    log = pl.read_parquet(small_log_file)
    everywhere = np.tile([0.25, 0.25, 0.25, 0.25], (log.height, 1))  # mass on ineligible offers too
    table(everywhere).write_csv(tmp_path / "target.csv")
    args = ["ope", "--log", str(small_log_file), "--target-probs", str(tmp_path / "target.csv"),
            "--estimators", "snips", "--bootstrap", "50", "--json"]  # fmt: skip
    relaxed = CliRunner().invoke(application(), args)  # in-process
    assert relaxed.exit_code == 0, relaxed.output
    assert any(w.startswith("support:") for w in json.loads(relaxed.stdout)["diagnostics"]["warnings"])
    strict = CliRunner().invoke(application(), [*args, "--strict", "--out", str(tmp_path / "out")])
    assert strict.exit_code == 3
    assert "--strict" in strict.stderr
    assert (tmp_path / "out" / "report.html").is_file()  # the warning can still be read


def test_dsjson_log_with_a_saved_policy_target(store: OfferlabConfig, small_log: pl.DataFrame, tmp_path: Path) -> None:
    from experiments.inputs import feedback_from_log
    from policies.bandits.vw import VowpalWabbitPolicy

    write_dsjson(small_log, tmp_path / "log.dsjson")
    policy = VowpalWabbitPolicy(seed=0)
    policy.learn(feedback_from_log(small_log))
    policy.save(tmp_path / "policy")
    result = offerlab(
        "--log",
        str(tmp_path / "log.dsjson"),
        "--policy",
        str(tmp_path / "policy"),
        "--estimators",
        "ips,snips",
        "--bootstrap",
        "100",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_rounds"] == small_log.height
    assert payload["n_actions"] == 4
    assert payload["target"].startswith("saved vw")


def test_ten_integer_actions_with_reward_predictions_and_a_baseline(store: OfferlabConfig, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n, k = 3000, 10
    action = rng.integers(0, k, size=n)
    pl.DataFrame(
        {
            "action": action,
            "propensity": np.full(n, 1 / k),
            "user_id": rng.integers(0, 500, size=n),
            "reward": rng.binomial(1, (action + 1) / 20).astype(float),
            "x": rng.normal(size=n),
        }
    ).write_csv(tmp_path / "log.csv")
    actions = tuple(str(a) for a in range(k))
    best, worst = np.zeros((n, k)), np.zeros((n, k))
    best[:, k - 1], worst[:, 0] = 1.0, 1.0
    table(best, actions).write_parquet(tmp_path / "best.parquet")
    table(worst, actions).write_parquet(tmp_path / "worst.parquet")
    truth = np.tile((np.arange(k) + 1) / 20, (n, 1))
    pl.DataFrame({f"q_{a}": truth[:, i] for i, a in enumerate(actions)}).write_parquet(tmp_path / "q.parquet")
    result = offerlab(
        "--log",
        str(tmp_path / "log.csv"),
        "--target-probs",
        str(tmp_path / "best.parquet"),
        "--baseline",
        str(tmp_path / "worst.parquet"),
        "--reward-predictions",
        str(tmp_path / "q.parquet"),
        "--estimators",
        "dm,dr",
        "--bootstrap",
        "200",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_actions"] == 10
    assert payload["settings"]["reward_model"] == "given"
    assert payload["estimates"]["dm"]["value"] == pytest.approx(0.5)
    lift = payload["lift"]["dr"]
    assert payload["reference"].startswith("table")
    assert lift["lower"] > 0.2  # truth: 0.50 - 0.05


def bad_log(kind: str, log: pl.DataFrame) -> pl.DataFrame:
    """Return the log with one fault planted in rows 2 and 5."""
    rows = pl.int_range(pl.len()).is_in([2, 5])
    value = {"zero": 0.0, "above": 1.5, "nan": float("nan")}[kind]
    return log.with_columns(propensity=pl.when(rows).then(value).otherwise(pl.col("propensity")))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("propensity 0", "log: column 'propensity' must lie in (0, 1]; row 2 has 0.0 (2 bad row(s))"),
        ("propensity above 1", "log: column 'propensity' must lie in (0, 1]; row 2 has 1.5 (2 bad row(s))"),
        ("propensity NaN", "log: column 'propensity' must lie in (0, 1]; row 2 has nan (2 bad row(s))"),
        ("target rows", "target-probs: has 3 rows but the log has"),
        ("row sums", "target-probs: row 0 sums to 0.5, not 1 (within 1e-06); {n} row(s) do not sum to 1"),
        (
            "missing actions",
            "target-probs: missing column(s) ['p_trust_badge']; expected one p_<action> column per action of the log, "
            "['no_offer', 'coupon', 'installment', 'trust_badge']",
        ),
        (
            "unknown estimator",
            "unknown estimator 'magic'; known: ['dm', 'dr', 'dr-os', 'ips', 'sndr', 'snips', 'switch-dr']",
        ),
        ("no target", "give exactly one of --policy (model URI or saved policy) or --target-probs FILE"),
        ("no such log", "no such file"),
    ],
)
def test_bad_input_exits_2_names_the_problem_and_writes_nothing(
    store: OfferlabConfig,
    small_log: pl.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
) -> None:
    log, n = small_log, small_log.height
    target = coupon(n)
    args = ["--target-probs", "target.csv"]
    if case.startswith("propensity"):
        log = bad_log({"propensity 0": "zero", "propensity above 1": "above", "propensity NaN": "nan"}[case], log)
    elif case == "target rows":
        target = coupon(3)
    elif case == "row sums":
        target = target.with_columns(p_coupon=pl.lit(0.5))
    elif case == "missing actions":
        target = target.drop("p_trust_badge")
    elif case == "unknown estimator":
        args += ["--estimators", "ips,magic"]
    elif case == "no target":
        args = []
    log.write_parquet(tmp_path / "log.parquet")
    target.write_csv(tmp_path / "target.csv")
    before = sorted(p.name for p in tmp_path.iterdir())
    log_name = "missing.parquet" if case == "no such log" else "log.parquet"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(application(), ["ope", "--log", log_name, *args, "--out", "out"])  # in-process
    assert result.exit_code == 2, result.output
    assert message.format(n=n) in " ".join(result.stderr.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no out folder, no MLflow store
