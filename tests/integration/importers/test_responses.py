from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from sqlalchemy import select
from tests.conftest import shared_file

from jindan.db.engine import Database
from jindan.db.models import Concept, ResponseRow, User
from jindan.importers.responses import import_responses


def _slice(tmp_path: Path, n: int) -> Path:
    """The first n students of the real ASSISTments 2015 file, with its concept map beside it."""
    src = shared_file("assist2015/train_valid.csv")
    folder = tmp_path / "assist2015"
    folder.mkdir()
    with src.open() as fh, (folder / "train_valid.csv").open("w") as out:
        out.writelines(itertools.islice(fh, n + 1))
    shutil.copy(src.with_name("keyid2idx.json"), folder / "keyid2idx.json")
    return folder / "train_valid.csv"


def test_real_slice_loads_then_second_run_has_no_changes(db: Database, tmp_path: Path) -> None:
    path = _slice(tmp_path, 300)
    lines = path.read_text().splitlines()[1:]
    expected = sum(len(line.rsplit('"', 2)[-2].split(",")) for line in lines)
    first = import_responses(db, path)
    assert first.counts.inserted == 300 and not first.errors
    assert first.detail["responses_written"] == expected
    assert import_responses(db, path).changes == 0
    with db.session() as s:
        assert s.scalar(select(User.id).where(User.external_id == "assist2015:16894")) is not None
        names = dict(s.execute(select(Concept.external_id, Concept.name)).tuples().all())
        assert names["assist2015:19"].startswith("skill ")
        first_user = s.scalar(select(User.id).where(User.external_id == "assist2015:16894"))
        got = s.scalars(select(ResponseRow.correct).where(ResponseRow.user_id == first_user).order_by(ResponseRow.seq))
        assert [int(c) for c in got] == [0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1]


def test_changed_and_shortened_logs_update(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    path.write_text('fold,uid,concepts,responses\n0,a,"1,2,3","0,1,1"\n0,b,"1,1","1,1"\n0,c,"2","0"\n')
    assert import_responses(db, path).counts.inserted == 3
    path.write_text('fold,uid,concepts,responses\n0,a,"1,2,3","1,1,1"\n0,b,"1","1"\n0,c,"2","0"\n0,d,"3","1"\n')
    report = import_responses(db, path)
    assert (report.counts.inserted, report.counts.updated, report.counts.unchanged) == (1, 2, 1)
    with db.session() as s:
        b = s.scalar(select(User.id).where(User.external_id == f"{tmp_path.name}:b"))
        assert s.scalars(select(ResponseRow.seq).where(ResponseRow.user_id == b)).all() == [0]


def test_bad_rows_reported_good_rows_kept(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    path.write_text(
        "fold,uid,concepts,responses\n"
        '0,a,"1,2","0,1"\n'
        '0,b,"1,2","0"\n'  # length mismatch
        '0,c,"1,x","0,1"\n'  # not an integer
        '0,d,"1","2"\n'  # not 0/1
        '0,a,"1","1"\n'  # duplicate uid
        '0,e,"-1","1"\n'  # pyKT padding
        "0,f\n"  # missing columns
    )
    report = import_responses(db, path, source="s")
    reasons = {e.line: e.reason for e in report.errors}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert "concepts has 2 items but responses has 1" in reasons[3]
    assert "integers" in reasons[4]
    assert "0 or 1" in reasons[5]
    assert "duplicate uid" in reasons[6]
    assert "padding" in reasons[7]
    assert "columns" in reasons[8]
    assert report.counts.inserted == 1
