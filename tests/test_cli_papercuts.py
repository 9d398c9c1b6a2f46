"""First-hour papercuts (issue 14, item 4): each command run as a user would, asserting the one-line
message or the now-working sequence."""

from __future__ import annotations

import pytest
from test_analysis_fixtures import make_run

from benchmark.cli import main


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def test_report_onto_an_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "report.html"
    target.write_text("keep me")
    assert main(["report", "--reference", "paper-mini", "--out", str(target)]) == 2
    line = one_error_line(capsys)
    assert str(target) in line and "not a folder" in line
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("command", ["metrics", "report", "collect"])
def test_a_folder_without_runs_fails_with_a_message(tmp_path, capsys, command):
    empty = tmp_path / "nothing"
    empty.mkdir()
    args = [command, str(empty)] + (["--out", str(tmp_path / "out")] if command == "report" else [])
    assert main(args) == 2
    line = one_error_line(capsys)
    assert str(empty) in line and "no runs found" in line
    assert not (tmp_path / "out").exists()


def test_a_folder_with_runs_still_works(tmp_path, capsys):
    make_run(tmp_path / "runs", "TSN-ResNet18-f8", "synthetic-temporal", top1=40.0)
    assert main(["metrics", str(tmp_path / "runs"), "--format", "json"]) == 0


def test_compare_help_shows_a_plain_percent(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert "95% CI" in out and "%%" not in out
