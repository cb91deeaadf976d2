"""The retrieval stack of one process (store, embedder, retriever, RAG), built on first use.

Loading an embedder takes seconds, so the service builds it when the first search arrives (or at start-up
in the background), once, behind a lock.
"""

from __future__ import annotations

import threading
from typing import Any

from jindan.answers.gate import AnswerObserver
from jindan.db.engine import Database
from jindan.embed.base import Embedder, ProviderGate
from jindan.llm.router import Router
from jindan.rag.answer import RagService
from jindan.rag.ranker import SearchObserver
from jindan.rag.retrieve import Retriever
from jindan.settings import Settings
from jindan.vectors.base import VectorStore


class SearchStack:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        router: Router | None = None,
        *,
        store: VectorStore | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings, self.db, self.router = settings, db, router
        self._store, self._embedder = store, embedder
        self._retriever: Retriever | None = None
        self.observer: SearchObserver | None = None  # metrics, set by the app
        self.answer_observer: AnswerObserver | None = None  # answer checks counted (metrics), set by the app
        self._lock = threading.Lock()

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                from jindan.vectors.registry import build_store

                self._store = build_store(self.settings, self.db)
            return self._store

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from jindan.embed.registry import build_embedder

                self._embedder = build_embedder(self.settings, self.gate)
            return self._embedder

    @property
    def gate(self) -> ProviderGate | None:
        """The legacy switch the router enforces (the app sets it): a legacy embedder asks it too."""
        gate: ProviderGate | None = getattr(self.router, "gate", None)
        return gate

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever.from_settings(self.settings, self.db, self.store, self.embedder, self.gate)
        self._retriever.observer = self.observer
        return self._retriever

    @property
    def rag(self) -> RagService:
        if self.router is None:
            raise RuntimeError("RAG needs an LLM router")
        rag = RagService(self.settings, self.db, self.retriever, self.router)
        rag.observer = self.answer_observer
        return rag

    def close(self) -> None:
        store: Any = self._store
        if store is not None:
            store.close()
