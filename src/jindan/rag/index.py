"""Index the question bank (and learning materials) into the configured vector store.

Idempotent by content hash: a point stores the hash of what was embedded, so an unchanged question is never
re-embedded; questions deleted from PostgreSQL are deleted from the collection. The application reads through
an alias (``questions``) that points at a versioned collection named after the embedding model, so a model
change builds a new collection beside the old one and switches the alias only when it is complete. The old
collection stays: indexing with the old model again brings it up to date (only changed questions) and
switches back; ``--rebuild`` always starts a new version. When questions changed, the topic model (subjects
inferred from a typed problem's text, :mod:`jindan.rag.topics`) is trained again on the stored vectors.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Material, Question
from jindan.embed.base import Embedder
from jindan.rag.topics import SOLUTION_MARK, topics_collection
from jindan.rag.topics import refresh as refresh_topics
from jindan.vectors.base import CollectionSpec, Point, PointId, VectorStore

MATERIAL_PREFIX = "material:"
STOP_CHECK_S = 1.0  # embedding calls are sized to about this long: a stop waits for one call at most
FIRST_CHUNK = 4  # texts in the first call, before the embedder's pace is known
SOLUTION_CHARS = 400
DRAWING = re.compile(r"\[asy\].*?(\[/asy\]|$)", re.S)
FIGURE = "[figure]"
FIRST_PASS = "embedding question texts (first pass)"
SECOND_PASS = "embedding worked solutions"
FIRST_PASS_MIN = 200  # fewer new passages than this: one pass


@dataclass
class IndexReport:
    collection: str
    total: int = 0
    embedded: int = 0  # written to the collection (embedded now, or taken from the embedding cache)
    from_cache: int = 0
    unchanged: int = 0
    deleted: int = 0
    seconds: float = 0.0
    created: bool = False
    stopped: bool = False  # asked to stop between batches: what was embedded stays, the alias did not move
    topics: int | None = None  # subjects the topic model was trained on (None: not trained this run)
    first_pass: int = 0  # short texts embedded first so search answered sooner (then replaced)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (where the time went)

    def timed(self, phase: str, since: float) -> float:
        """Add the time since ``since`` to ``phase``; returns now."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now


@dataclass(frozen=True)
class Doc:
    id: PointId
    text: str
    payload: dict[str, Any]
    first: str | None = None  # a shorter text a fresh index embeds first (the full text replaces it)
    words: str | None = None  # what the topic model reads, when not the text (:func:`topic_text`)

    def first_pass(self) -> Doc:
        return Doc(self.id, self.first or self.text, self.payload, words=self.words)

    @property
    def content_hash(self) -> str:
        """Hash of exactly what is stored: the embedded text and the payload (so a filter change updates too)."""
        blob = self.text + "\x00" + json.dumps(self.payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


def searchable_text(body: str, choices: Sequence[str] | None = None) -> str:
    """A question as a student sees it (and pastes it): its text, then its numbered choices."""
    if not choices:
        return body
    return body + "\n" + " ".join(f"({i}) {c}" for i, c in enumerate(choices, 1))


def passage_text(subject: str | None, body: str, explanation: str | None, choices: Sequence[str] | None = None) -> str:
    """What a question is embedded as: its topic, its text and choices, and the start of its worked solution.

    The solution's vocabulary says what the problem is about far better than the problem alone; it is cut so
    the model's window is spent on the opening steps, where the method is named. Drawing code (Asymptote
    ``[asy]`` blocks: coordinates and pen commands, 12% of the MATH bank's tokens) is left out: a marker
    says a figure is there."""
    head = f"{subject}: " if subject else ""
    sol = without_drawings(explanation or "", "")[:SOLUTION_CHARS]
    return f"{head}{without_drawings(searchable_text(body, choices))}\n{sol}".strip()


def first_pass_text(subject: str | None, body: str, choices: Sequence[str] | None = None) -> str:
    """The shorter text a fresh index embeds first (topic, text and choices: about a third of the tokens), so
    search answers minutes sooner; the full passage replaces it in the second pass."""
    head = f"{subject}: " if subject else ""
    return f"{head}{without_drawings(searchable_text(body, choices))}".strip()


def topic_text(
    subject: str | None, body: str, explanation: str | None = None, choices: Sequence[str] | None = None
) -> str:
    """What the topic model reads of a question: the problem as written, drawing code included, then the start
    of its solution after :data:`~jindan.rag.topics.SOLUTION_MARK` (the term regression reads the problem only,
    as a student types it; naive Bayes reads both). A typed or pasted problem brings its drawing code along, and
    its terms (``draw``, ``label``, coordinates) say Geometry (docs/benchmarks.md)."""
    head = f"{subject}: " if subject else ""
    problem = f"{head}{searchable_text(body, choices)}".strip()
    solution = (explanation or "")[:SOLUTION_CHARS].strip()
    return f"{problem}{SOLUTION_MARK}{solution}" if solution else problem


def without_drawings(text: str, marker: str = FIGURE) -> str:
    return DRAWING.sub(marker, text) if "[asy]" in text else text


def collection_name(alias: str, model_id: str, version: int = 1) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")[:30]
    return f"{alias}__{slug}__v{version}"


def question_docs(db: Database) -> Iterator[Doc]:
    with db.session() as s:
        for q in s.scalars(select(Question).order_by(Question.id)).yield_per(1000):
            yield Doc(
                q.id,
                passage_text(q.subject, q.body, q.explanation, q.choices),
                {
                    "kind": "question",
                    "source": q.source,
                    "subject": q.subject,
                    "level": q.level,
                    "difficulty": q.difficulty,
                    "concepts": [c.external_id for c in q.concepts],
                },
                first_pass_text(q.subject, q.body, q.choices) if q.explanation else None,
                topic_text(q.subject, q.body, q.explanation, q.choices),
            )


def material_docs(db: Database) -> Iterator[Doc]:
    with db.session() as s:
        for m in s.scalars(select(Material).order_by(Material.id)):
            yield Doc(
                f"{MATERIAL_PREFIX}{m.external_id}",
                f"{m.title}\n{m.text}"[:2000],
                {
                    "kind": "material",
                    "title": m.title,
                    "concepts": list(m.concepts or []),
                },
            )


class Pace:
    """How many texts the next embedding call takes so it lasts about STOP_CHECK_S: from the seconds per
    character seen so far (a text's cost grows with its length; the machine's load changes the rate)."""

    def __init__(self, budget_s: float = STOP_CHECK_S) -> None:
        self.budget_s = budget_s
        self.s_per_char: float | None = None
        self.last = FIRST_CHUNK

    def take(self, lengths: Sequence[int]) -> int:
        """At most twice the last call's texts: a rate learnt on cached texts (read, not embedded) never
        sends a whole batch of new ones in one call."""
        if self.s_per_char is None:
            return min(len(lengths), FIRST_CHUNK)
        n = chars = 0
        for length in lengths:
            chars += length
            if n and chars * self.s_per_char > self.budget_s:
                break
            n += 1
        self.last = min(n, max(FIRST_CHUNK, 2 * self.last))
        return self.last

    def saw(self, chars: int, seconds: float) -> None:
        rate = seconds / max(chars, 1)
        self.s_per_char = rate if self.s_per_char is None else (self.s_per_char + rate) / 2


class Indexer:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        alias: str = "questions",
        *,
        batch_size: int = 64,
        sparse: Any = None,
        first_pass: bool = False,
    ) -> None:
        self.db, self.store, self.embedder, self.alias = db, store, embedder, alias
        self.batch_size = batch_size
        self.first_pass = first_pass  # a collection that serves nothing yet: short texts first, then the rest
        self.sparse = sparse  # optional SparseEncoder for hybrid search
        self._pace = Pace()

    def target(self, rebuild: bool = False) -> tuple[str, bool]:
        """The collection to write: the alias's, or a new versioned one (first run, model change, --rebuild)."""
        current = self.store.resolve(self.alias)
        if self.store.exists(current) and current != self.alias and not rebuild:
            spec = self.store.spec(current)
            if spec.model_id == self.embedder.model_id and spec.dim == self.embedder.dim:
                return current, False
        if not rebuild and (earlier := self._earlier()) is not None:
            return earlier, False  # back to an earlier model, or an interrupted run: only what changed is embedded
        version = 1
        while self.store.exists(collection_name(self.alias, self.embedder.model_id, version)):
            version += 1
        name = collection_name(self.alias, self.embedder.model_id, version)
        self.store.create(
            CollectionSpec(
                name=name, dim=self.embedder.dim, model_id=self.embedder.model_id, sparse=self.sparse is not None
            )
        )
        return name, True

    def _earlier(self) -> str | None:
        """The newest existing collection of this embedder (kept after a move to another model)."""
        version, found = 1, None
        while self.store.exists(name := collection_name(self.alias, self.embedder.model_id, version)):
            spec = self.store.spec(name)
            if spec.model_id == self.embedder.model_id and spec.dim == self.embedder.dim:
                found = name
            version += 1
        return found

    def run(
        self,
        *,
        rebuild: bool = False,
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        watch: Callable[[int, int, str], None] | None = None,
    ) -> IndexReport:
        """Embed what changed, remove what went, then point the alias at the collection. ``stop`` (a service
        shutting down) ends the run after the embedding call in hand (about ``STOP_CHECK_S``; one text at a
        time where a text takes longer): what was embedded is written, and the next
        run goes on from there (unchanged passages are skipped by their hash). ``progress`` gets (embedded now,
        to embed); ``watch`` gets (passages indexed, passages in the bank, phase) for status shown elsewhere."""
        start = time.perf_counter()
        stopping = stop.is_set if stop is not None else (lambda: False)
        docs = list(question_docs(self.db)) + list(material_docs(self.db))
        if (choose := getattr(self.embedder, "for_texts", None)) is not None:  # auto: by the bank's language
            reading = any(str(d.id).startswith(MATERIAL_PREFIX) for d in docs)
            self.embedder = choose([d.text for d in docs], reading=reading)
        read_s = time.perf_counter() - start
        seen = watch or (lambda done, total, phase: None)
        seen(0, len(docs), "comparing with the stored vectors")
        name, created = self.target(rebuild)
        report = IndexReport(collection=name, created=created, total=len(docs), phases={"read bank": read_s})
        t = time.perf_counter()
        stored = {} if created else self._stored_hashes(name, stopping)
        todo = sorted((d for d in docs if stored.get(d.id) != d.content_hash), key=lambda d: len(d.text))
        report.unchanged = len(docs) - len(todo)
        report.timed("compare", t)
        if stopping():  # before a single text was embedded (the comparison may have been cut short)
            report.unchanged, report.stopped = 0, True
            report.seconds = time.perf_counter() - start
            return report
        if self._two_passes(name, todo, stored):
            first = sorted((d.first_pass() for d in todo if d.id not in stored), key=lambda d: len(d.text))
            if not self._pass(name, first, report, seen, len(docs), FIRST_PASS, stopping, progress):
                report.seconds = time.perf_counter() - start
                return report
            t = time.perf_counter()  # search answers from here on; the second pass refines it in place
            report.topics = refresh_topics(self.store, name, {d.id: d.words or d.first or d.text for d in docs})
            self.store.switch_alias(self.alias, name)
            report.timed("first pass: topic model + switch", t)
            report.first_pass, report.embedded = report.embedded, 0
            todo = [d for d in todo if d.first is not None or d.id in stored]  # the rest has its final text
        phase = SECOND_PASS if report.first_pass else "embedding"
        if not self._pass(name, todo, report, seen, len(docs), phase, stopping, progress):
            report.seconds = time.perf_counter() - start
            return report
        t = time.perf_counter()
        wanted = {d.id for d in docs}
        stale = [pid for pid in stored if pid not in wanted]
        for i in range(0, len(stale), 1000):
            self.store.delete(name, stale[i : i + 1000])
        report.deleted = len(stale)
        if report.embedded or report.deleted or not self.store.exists(topics_collection(name)):
            seen(len(docs), len(docs), "training the topic model")
            t = report.timed("delete + switch", t)
            report.topics = refresh_topics(self.store, name, {d.id: d.words or d.text for d in docs})
            t = report.timed("topic model", t)
        if self.store.resolve(self.alias) != name:
            self.store.switch_alias(self.alias, name)  # only once the new collection is complete
        report.timed("delete + switch", t)
        seen(len(docs), len(docs), "done")
        report.seconds = time.perf_counter() - start
        return report

    def _two_passes(self, name: str, todo: Sequence[Doc], stored: dict[PointId, str]) -> bool:
        """Short texts first when many passages are new and search does not answer from this collection yet
        (a first start, a first index): search then answers after about a third of the embedding time."""
        new = sum(1 for d in todo if d.first and d.id not in stored)
        return self.first_pass and new >= FIRST_PASS_MIN and self.store.resolve(self.alias) != name

    def _pass(
        self,
        name: str,
        todo: Sequence[Doc],
        report: IndexReport,
        seen: Callable[[int, int, str], None],
        total: int,
        phase: str,
        stopping: Callable[[], bool],
        progress: Callable[[int, int], None] | None,
    ) -> bool:
        """Embed and store ``todo`` in batches; False when asked to stop (``report.stopped``)."""
        seen(report.unchanged, total, phase)
        if progress:
            progress(0, len(todo))
        for i in range(0, len(todo), self.batch_size):

            def embedding(n: int) -> None:  # progress every embedding call, not only every batch
                seen(report.unchanged + report.embedded + n, total, phase)

            points = self._points(todo[i : i + self.batch_size], stopping, report, embedding)
            t = time.perf_counter()
            self.store.upsert(name, points)
            t = report.timed("store", t)
            report.embedded += len(points)
            seen(report.unchanged + report.embedded, total, phase)
            report.timed("progress", t)
            if progress:
                progress(len(points), len(todo))
            if stopping():
                report.stopped = True
                return False
        return True

    def _points(
        self, batch: Sequence[Doc], stopping: Callable[[], bool], report: IndexReport, done: Callable[[int], None]
    ) -> list[Point]:
        """The batch's points, embedded in calls sized by ``_pace`` to about STOP_CHECK_S each (``done`` hears
        how many are embedded after each); fewer points when asked to stop midway."""
        points: list[Point] = []
        j = 0
        while j < len(batch):
            if j and stopping():
                break
            chunk = batch[j : j + self._pace.take([len(d.text) for d in batch[j:]])]
            j += len(chunk)
            texts = [d.text for d in chunk]
            t = time.perf_counter()
            vectors = self.embedder.embed_passages(texts)
            self._pace.saw(sum(map(len, texts)), time.perf_counter() - t)
            t = report.timed("embed", t)
            sparse = self.sparse.encode(texts) if self.sparse is not None else [None] * len(chunk)
            if self.sparse is not None:
                report.timed("sparse terms", t)
            points += [
                Point(d.id, v, {**d.payload, "content_hash": d.content_hash}, s)
                for d, v, s in zip(chunk, vectors, sparse, strict=True)
            ]
            if j < len(batch):
                t = time.perf_counter()
                done(len(points))
                report.timed("progress", t)
        return points

    def _stored_hashes(self, name: str, stopping: Callable[[], bool]) -> dict[PointId, str]:
        ids = list(self.store.ids(name))
        out: dict[PointId, str] = {}
        for i in range(0, len(ids), 1000):
            if stopping():
                break
            for p in self.store.retrieve(name, ids[i : i + 1000]):
                out[p.id] = str(p.payload.get("content_hash", ""))
        return out
