"""The evaluation commands on input they cannot use: one red line naming the file (and line) and exit 1, never a
traceback, never a table of NaN."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jindan.cli.main import app

HEADER = "fold,uid,concepts,responses\n"
GOOD = HEADER + '0,1,"1,1,2","1,0,1"\n1,2,"2,3","0,1"\n'
BAD = {
    "wrong columns": ("a,b,c\n1,2,3\n", "not a pyKT CSV"),
    "fewer responses": (HEADER + '0,1,"1,2","1"\n', "bad.csv:2: 2 concepts but 1 responses"),
    "a short row": (HEADER + "0,1\n", "bad.csv:2: the row has fewer columns"),
    "a fold that is no number": (HEADER + 'x,1,"1","1"\n', "bad.csv:2: invalid literal"),
    "a concept that is no number": (HEADER + '0,1,"a","1"\n', "bad.csv:2: invalid literal"),
    "only the header": (HEADER, "no answers to fit on"),
}


def _run(tmp_path: Path, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env={"JINDAN_HOME": str(tmp_path / "home"), "COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("command", ["diagnosis", "adaptive"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_pykt_file_is_named_with_its_line(tmp_path: Path, command: str, case: str) -> None:
    text, said = BAD[case]
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    code, output = _run(tmp_path, ["eval", command, "--train", str(bad), "--test", str(bad)])
    assert code == 1 and said in output


@pytest.mark.parametrize("command", ["diagnosis", "adaptive"])
def test_an_empty_side_or_a_file_that_is_not_text_is_refused(tmp_path: Path, command: str) -> None:
    good, binary = tmp_path / "good.csv", tmp_path / "binary.csv"
    good.write_text(GOOD)
    binary.write_bytes(b"\xff\xfe\x00\x01")
    code, output = _run(tmp_path, ["eval", command, "--train", str(good), "--test", str(good), "--test-fold", "9"])
    assert code == 1 and "no answers to predict in fold 9" in output
    code, output = _run(tmp_path, ["eval", command, "--train", str(binary), "--test", str(good)])
    assert code == 1 and "not UTF-8 text" in output


def test_a_bank_that_cannot_be_evaluated(tmp_path: Path) -> None:
    empty_dir, broken, empty = tmp_path / "empty", tmp_path / "broken.jsonl", tmp_path / "empty.jsonl"
    empty_dir.mkdir()
    broken.write_text("{not json\n")
    empty.write_text("")
    for bank, said in ((empty_dir, "no questions.jsonl"), (broken, "JSON"), (empty, "no queries to evaluate")):
        code, output = _run(tmp_path, ["eval", "retrieval", "--intent", "similar", "--bank", str(bank)])
        assert code == 1 and "cannot read the evaluation set" in output and said in output, output
