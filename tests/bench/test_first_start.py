"""`jindan bench first-start` as a real process: the service answers first, search once its bank is indexed."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jindan.bench import first_start
from tests.conftest import shared_file
from tests.fixtures.processes import postmasters

pytestmark = pytest.mark.slow


@pytest.fixture()
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="jindan-first-", dir="/tmp"))
    yield path
    for pid in postmasters(path / "home" / "pgdata"):
        import psutil

        psutil.Process(pid).kill()
    shutil.rmtree(path, ignore_errors=True)


def test_the_service_answers_before_its_bank_is_ready_and_search_follows(root: Path) -> None:
    result = first_start.run(shared_file("math/problems.jsonl"), questions=40, until="full", home=root)
    log = result.pop("log")
    print(json.dumps(result), file=sys.stderr)
    assert result["questions"] == 40
    assert result["service_answers_s"] is not None, log
    search, whole = result["search_answers_after_answer_s"], result["index_whole_after_answer_s"]
    assert search is not None and whole is not None and 0 <= search <= whole, (result, log)
    assert "Finished server process" in log  # SIGTERM: a clean stop
