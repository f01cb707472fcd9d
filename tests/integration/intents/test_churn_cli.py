"""`netcx churn train|score` as a user runs them: real processes, real files, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.integration.intents.telco_table import write_telco_csv

pytestmark = pytest.mark.integration


def netcx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def telco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_telco_csv(
        tmp_path_factory.mktemp("telco") / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    )


def test_train_on_a_telco_table_prints_metrics_and_scores(telco: Path, tmp_path: Path) -> None:
    model = tmp_path / "churn.model"
    r = netcx("churn", "train", "--data", telco, "--target", "Churn", "--id", "customerID",
              "--out", model, "--exclude", "gender,SeniorCitizen")  # fmt: skip
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.strip().splitlines()
    m = json.loads(line)
    assert m["n_train"] + m["n_test"] == 1500
    assert m["positive_label"] == "Yes"
    assert 0.75 < m["auc"] <= 1.0
    assert 0 < m["pr_auc"] <= 1.0
    assert m["top_decile_lift"] > 1.5
    assert m["calibration"]["ece"] < 0.1
    assert 3 <= len(m["calibration"]["bins"]) <= 10
    assert sum(b["n"] for b in m["calibration"]["bins"]) == m["n_test"]
    assert m["features"]["TotalCharges"] == "numeric"  # blank strings are missing numbers
    assert m["features"]["Contract"] == "categorical"
    assert "customerID" not in m["features"]
    assert "gender" not in m["features"]
    assert m["excluded_columns"] == ["gender", "SeniorCitizen"]

    out = tmp_path / "scores.csv"
    r = netcx("churn", "score", "--model", model, "--data", telco, "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"rows": 1500, "out": str(out)}
    scores = pacsv.read_csv(out)
    assert scores.column_names == ["customerID", "churn_probability"]
    probs = scores["churn_probability"].to_pylist()
    assert all(0.0 <= p <= 1.0 for p in probs)
    # month-to-month customers are scored riskier than two-year ones, as in the data
    with telco.open(encoding="utf-8") as f:
        contract = {row["customerID"]: row["Contract"] for row in csv.DictReader(f)}
    by_contract: dict[str, list[float]] = {}
    for cid, p in zip(scores["customerID"].to_pylist(), probs, strict=True):
        by_contract.setdefault(contract[cid], []).append(p)
    mean = {k: sum(v) / len(v) for k, v in by_contract.items()}
    assert mean["Month-to-month"] > 2 * mean["Two year"]

    r = netcx("churn", "score", "--model", model, "--data", telco)  # CSV on stdout
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == '"customerID","churn_probability"'
    assert len(r.stdout.splitlines()) == 1501


def test_parquet_with_a_time_column_splits_by_time(telco: Path, tmp_path: Path) -> None:
    table = pacsv.read_csv(telco)
    import pyarrow as pa

    table = table.append_column("snapshot_day", pa.array(range(table.num_rows)))
    pq.write_table(table, tmp_path / "customers.parquet")
    r = netcx("churn", "train", "--data", tmp_path / "customers.parquet", "--target", "Churn",
              "--id", "customerID", "--time", "snapshot_day")  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["split"] == "time"
    assert m["n_test"] == 375
    assert "snapshot_day" not in m["features"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "churned"], 2, "no column 'churned' (--target); columns are: customerID"),
        (["--target", "Contract"], 2, "'Contract' is not binary: 3 distinct value(s)"),
        (["--target", "Churn", "--id", "cust_id"], 2, "no column 'cust_id' (--id)"),
        (["--target", "Churn", "--exclude", "sex"], 2, "no column 'sex' (--exclude)"),
    ],
)
def test_bad_training_input_gets_a_clear_message(
    telco: Path, args: list[str], code: int, message: str
) -> None:
    r = netcx("churn", "train", "--data", telco, *args)
    assert r.returncode == code, r.stderr
    assert message in " ".join(r.stderr.split())
    assert r.stdout == ""


def test_bad_files_get_a_clear_message(telco: Path, tmp_path: Path) -> None:
    xlsx = tmp_path / "customers.xlsx"
    xlsx.write_bytes(b"PK\x03\x04")
    r = netcx("churn", "train", "--data", xlsx, "--target", "Churn")
    assert r.returncode == 2
    assert "unknown file type '.xlsx'" in r.stderr
    r = netcx("churn", "train", "--data", tmp_path / "nope.csv", "--target", "Churn")
    assert r.returncode == 4
    assert "nope.csv: no such file" in " ".join(r.stderr.split())
    not_a_model = tmp_path / "x.model"
    not_a_model.write_bytes(b"hello")
    r = netcx("churn", "score", "--model", not_a_model, "--data", telco)
    assert r.returncode == 2
    assert "not a netcx churn model" in r.stderr


def test_scoring_data_without_a_model_column_names_it(telco: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.model"
    assert netcx("churn", "train", "--data", telco, "--target", "Churn", "--id", "customerID",
                 "--out", model).returncode == 0  # fmt: skip
    table = pacsv.read_csv(telco).drop_columns(["Contract"])
    pacsv.write_csv(table, tmp_path / "new.csv")
    r = netcx("churn", "score", "--model", model, "--data", tmp_path / "new.csv")
    assert r.returncode == 2
    assert "missing column(s) the model needs: Contract" in " ".join(r.stderr.split())


def test_intents_check_validates_a_taxonomy_file(tmp_path: Path) -> None:
    r = netcx("intents", "check")
    assert r.returncode == 0, r.stderr
    shipped = json.loads(r.stdout)
    assert len(shipped["intents"]) == 8
    bad = tmp_path / "taxonomy.yaml"
    bad.write_text("intents:\n  roaming:\n    rules:\n      - {family: url, match: [x]}\n")
    r = netcx("intents", "check", "--taxonomy", bad)
    assert r.returncode == 3
    assert "intents.roaming.rules[0].family" in " ".join(r.stderr.split())
