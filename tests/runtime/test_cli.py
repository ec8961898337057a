"""The `saga` command: exit codes, one-line errors, summaries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = str(ROOT / "sample_sagas" / "flight_booking.yaml")
runner = CliRunner()


def saga(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok_samples() -> None:
    code, out, _ = saga("validate", FLIGHT)
    assert code == 0 and "ok (4 steps" in out


def test_validate_reports_each_issue_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("saga: s\nsteps:\n  - {name: a, action: x.a}\n  - {name: b, action: x.b, after: [a, c]}\n")
    code, _, err = saga("validate", str(bad))
    lines = err.strip().splitlines()
    assert code == 1
    assert f"{bad}: /steps/0/compensation: compensatable step 'a' has no compensation" in lines[0]
    assert any(line.startswith(f"{bad}: /steps/1/after/1: no step named 'c' [unknown-step]") for line in lines)
    assert "Traceback" not in err


def test_validate_with_the_sample_registry_flags_unknown_actions(tmp_path: Path) -> None:
    doc = tmp_path / "d.yaml"
    doc.write_text("saga: s\nsteps:\n  - {name: a, action: flight.reserve_seat, compensation: nope.x}\n")
    code, _, err = saga("validate", str(doc), "--actions", "sample", "--services-db",
                        str(tmp_path / "svc.db"))
    assert code == 1 and "/steps/0/compensation: action 'nope.x' is not registered" in err


def test_schema_is_json() -> None:
    code, out, _ = saga("schema")
    assert code == 0 and json.loads(out)["title"] == "Saga Studio saga definition"


def test_export_yaml_round_trips(tmp_path: Path) -> None:
    code, out, _ = saga("export", FLIGHT, "--to", "json")
    assert code == 0 and json.loads(out)["saga"] == "flight_booking"


def test_run_simulated_json_summary_and_runs_show(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    code, out, err = saga("run", FLIGHT, "--simulate", "--count", "40", "--concurrency", "8",
                          "--fail", "charge_payment=0.5", "--latency", "reserve_seat=0:0",
                          "--seed", "3", "--db", db, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["total"] == 40
    assert summary["completed"] + summary["compensated"] + summary["failed"] == 40
    assert summary["compensated"] > 5
    code, out, _ = saga("runs", "--db", db, "--json", "--limit", "100")
    rows = json.loads(out)
    assert len(rows) == 40 and {r["origin"] for r in rows} == {"simulated"}
    code, out, _ = saga("show", rows[0]["id"][-10:], "--db", db, "--json")
    shown = json.loads(out)
    assert shown["run"]["id"] == rows[0]["id"] and shown["events"][0]["type"] == "run_started"


@pytest.mark.parametrize(("args", "message"), [
    (["run", FLIGHT, "--fail", "nosuchstep=0.2"], "--fail 'nosuchstep=0.2': no step 'nosuchstep'"),
    (["run", FLIGHT, "--fail", "charge_payment=2"], "between 0 and 1"),
    (["run", FLIGHT, "--input", "[1]"], "--input must be a JSON object"),
    (["run", FLIGHT, "--actions", "no.such.module"], "--actions no.such.module: cannot import"),
    (["show", "ffffffff"], "no run 'ffffffff'"),
])
def test_bad_input_is_one_line_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    code, _, err = saga(*args, "--db", f"sqlite:///{tmp_path / 'e.db'}")
    assert code == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("content", "line"), [
    ("actions: [\n", "/: line 2, column 1: did not find expected node content [yaml-syntax]"),
    ("actions:\n  x.y: {url: 'http://a/', methd: GET}\n",
     "/actions/x.y/methd: unknown field [extra-forbidden]"),
    ("actions:\n  x.y: {url: 'http://a/'}\n  x.y: {url: 'http://b/'}\n",
     "/actions/x.y: key 'x.y' is given more than once in the same mapping (lines 2 and 3)"),
    ("", "/: the document is empty [not-a-mapping]"),
])
def test_a_bad_http_actions_file_is_one_line_per_problem(tmp_path: Path, content: str,
                                                         line: str) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text(content)
    for command in (["run", FLIGHT, "--db", f"sqlite:///{tmp_path / 'e.db'}"], ["validate", FLIGHT]):
        code, out, err = saga(*command, "--actions", str(actions))
        assert code == 1 and "Traceback" not in err
        assert err.strip().splitlines() == [err.strip()] and err.startswith(f"{actions}: {line}")
    assert not (tmp_path / "e.db").exists()  # refused before anything was opened


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "evil.yaml"
    bad.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "validate", str(bad)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"{bad}: /: line 1, column 1: tags like !!python/... are not "
                                   "allowed [yaml-tag]; definitions are plain data; refer to "
                                   "actions by registered name")
    assert "hacked" not in proc.stdout


@pytest.mark.parametrize(("fmt", "expect"), [
    ("yaml", "saga: flight_booking"), ("dot", "digraph"), ("mermaid", "flowchart"),
])
def test_export_text_formats(fmt: str, expect: str) -> None:
    code, out, err = saga("export", FLIGHT, "--to", fmt)
    assert code == 0, err
    assert expect in out and "reserve_seat" in out


def test_export_svg_to_a_file_or_a_clear_error(tmp_path: Path) -> None:
    import shutil

    target = tmp_path / "flight.svg"
    code, out, err = saga("export", FLIGHT, "--to", "svg", "-o", str(target))
    if shutil.which("dot"):
        assert code == 0 and target.read_text().lstrip().startswith(("<?xml", "<svg"))
    else:
        assert code == 1 and "graphviz" in err
    code, _, err = saga("export", FLIGHT, "--to", "svg")
    assert code == 1 and "-o FILE.svg" in err or "graphviz" in err


def test_export_unknown_format_is_one_line() -> None:
    code, _, err = saga("export", FLIGHT, "--to", "pdf")
    assert code == 1 and "pdf" in err and len(err.strip().splitlines()) == 1
