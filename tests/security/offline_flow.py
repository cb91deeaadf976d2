"""The whole product flow on the default embedded stack, run by test_privacy.py where nothing but loopback
exists (a network namespace with only ``lo``, or a socket guard installed before anything imports).

Prints one JSON line per step; exits non-zero on the first failure. Usage: python offline_flow.py HOME
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

STEPS: list[str] = []


def step(name: str, ok: bool, detail: object = "") -> None:
    print(json.dumps({"step": name, "ok": ok, "detail": str(detail)[:300]}, ensure_ascii=False), flush=True)
    if not ok:
        sys.exit(1)
    STEPS.append(name)


def outside_is_unreachable() -> None:
    """The isolation itself: a connection to a public address fails at the socket level."""
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=2).close()
    except OSError as exc:
        step("no-network", True, type(exc).__name__)
        return
    step("no-network", False, "a public address was reachable: the test would prove nothing")


def main(home: Path) -> None:
    os.environ["JINDAN_HOME"] = str(home)
    os.environ["JINDAN_DATABASE__PGDATA"] = str(home / "pgdata")
    outside_is_unreachable()
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from jindan.api.app import create_app
    from jindan.cli.main import app as cli
    from jindan.db.engine import Database
    from jindan.db.repositories import UserRepository
    from jindan.diagnosis.service import fit_and_store
    from jindan.security import privacy
    from jindan.settings import Settings

    bank = Path(__file__).resolve().parents[2] / "src" / "jindan" / "data" / "ko" / "questions.jsonl"
    runner = CliRunner()
    for name, args in (("import", ["import", "questions", str(bank)]), ("index", ["index", "questions"])):
        r = runner.invoke(cli, args)
        step(name, r.exit_code == 0, r.output[-300:])

    settings = Settings(server={"demo_import": False}, llm={"max_tokens": 24})  # type: ignore[arg-type]
    said = privacy.status(settings)
    step("privacy-status", said.startswith("local-only"), f"{settings.profile}: {said}")
    db = Database(settings)
    with db.session() as s:
        student = UserRepository(s).sync("offline-student", "student", "오프라인 학생")
    with TestClient(create_app(settings, db)) as c:
        ready = c.get("/ready").json()
        step("ready", ready["privacy"].startswith("local-only"), ready)
        found = c.post("/search", json={"text": "이차방정식 x^2-5x+6=0 해"}).json()
        results = found if isinstance(found, list) else found.get("results", [])
        step("search", len(results) > 0, results[:1])
        qid = results[0]["id"]
        similar = c.get(f"/questions/{qid}/similar", params={"k": 3})
        step("similar", similar.status_code == 200, similar.text[:200])
        for name, url, body in (
            ("explain", f"/questions/{qid}/explain", None),
            ("hint", f"/questions/{qid}/hint", {"student_answer": "x = 1 인 것 같아요"}),
            ("ask", "/ask", {"text": "근의 공식이 뭐예요?"}),
        ):
            r = c.post(url, json=body)
            step(name, r.status_code == 200 and "event: delta" in r.text, r.text[:200])
        answers = [{"question_id": q["id"], "correct": i % 2 == 0} for i, q in enumerate(results[:6])]
        r = c.post(f"/students/{student}/responses", json={"responses": answers})
        step("responses", r.status_code == 201, r.text)
        fit_and_store(db)
        r = c.post(f"/students/{student}/diagnosis")
        step("diagnosis", r.status_code == 200 and r.json()["responses"] == len(answers), r.text[:200])
        body = {"messages": [{"role": "user", "content": "Say hello."}], "stream": False}
        r = c.post("/llm/chat", json=body)
        step("chat", r.status_code == 200 and r.json()["text"], r.text[:200])
    db.close()
    step("done", True, ",".join(STEPS))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
