"""Saved model states of prompt prefixes, keyed by their tokens: LRU bounded in bytes, in memory and on disk.

An entry is an opaque blob (for llama.cpp: the KV cache of one sequence, ~23 KB per token for SmolLM2-135M).
Keys hash the prefix's tokens with a fingerprint of the model and runtime, so a state saved by another model,
context size or llama.cpp build is never restored. The disk tier (one file per entry under a directory of
its own per fingerprint) survives restarts and is shared by processes: `jindan warm` fills it, the service
finds its entries on a miss in memory. Only a prefix's state is saved: it holds no student-written text.

``hits``, ``misses``, ``bytes`` (memory) and ``disk_bytes`` are plain attributes for metrics and benchmarks;
``count()`` is called by the provider once per request that had a cacheable prefix.
"""

from __future__ import annotations

import hashlib
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SUFFIX = ".kv"


class PrefixCache:
    def __init__(
        self,
        max_bytes: int,
        *,
        fingerprint: str = "",
        disk: Path | None = None,
        disk_max_bytes: int = 0,
    ) -> None:
        self.max_bytes = max_bytes
        self.fingerprint = fingerprint
        self.disk_max_bytes = disk_max_bytes if disk is not None else 0
        self.dir = disk / hashlib.sha256(fingerprint.encode()).hexdigest()[:16] if disk and disk_max_bytes else None
        self._mem: OrderedDict[str, Any] = OrderedDict()  # key -> buffer (bytes-like), oldest first
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefix-cache")
        self._writing: set[str] = set()  # keys whose disk write is queued or running
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.disk_hits = 0
        self.evictions = 0

    def key(self, tokens: Sequence[int]) -> str:
        h = hashlib.sha256(self.fingerprint.encode())
        h.update(array("i", tokens).tobytes())
        return h.hexdigest()

    def count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, key: str) -> bool:
        if key in self._mem:
            return True
        if self.dir is None:
            return False
        return key in self._writing or (self.dir / (key + SUFFIX)).exists()

    def get(self, key: str) -> Any | None:
        """The saved state (a bytes-like buffer) or None; a disk entry is promoted to memory."""
        with self._lock:
            data = self._mem.get(key)
            if data is not None:
                self._mem.move_to_end(key)
                return data
        path = self._path(key)
        if path is None:
            return None
        try:
            blob = bytearray(path.read_bytes())
            os.utime(path)  # the disk tier's LRU order is the files' modification time
        except OSError:
            return None
        with self._lock:
            self.disk_hits += 1
        self._remember(key, blob)
        return blob

    def put(self, key: str, data: Any) -> None:
        """Keep ``data`` (any buffer, never modified afterwards; not copied in memory) under ``key``, evicting
        the least recently used. The disk copy is written in the background, off the answer's path."""
        size = memoryview(data).nbytes
        if self.max_bytes and size <= self.max_bytes:
            self._remember(key, data)
        if self.dir is not None and size <= self.disk_max_bytes:
            with self._lock:
                self._writing.add(key)
            self._writer.submit(self._write, key, data)

    def flush(self) -> None:
        """Wait until every disk write asked so far is done."""
        self._writer.submit(lambda: None).result()

    def discard(self, key: str) -> None:
        """Forget one entry, in memory and on disk."""
        self.flush()
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self.bytes -= memoryview(old).nbytes
        if self.dir is not None:
            (self.dir / (key + SUFFIX)).unlink(missing_ok=True)

    def clear(self, disk: bool = True) -> None:
        self.flush()
        with self._lock:
            self._mem.clear()
            self.bytes = 0
        if disk and self.dir is not None and self.dir.exists():
            for path in self.dir.glob("*" + SUFFIX):
                path.unlink(missing_ok=True)

    def disk_bytes(self) -> int:
        self.flush()
        if self.dir is None or not self.dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.dir.glob("*" + SUFFIX))

    def _remember(self, key: str, data: Any) -> None:
        size = memoryview(data).nbytes
        if not self.max_bytes or size > self.max_bytes:
            return
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self.bytes -= memoryview(old).nbytes
            self._mem[key] = data
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._mem.popitem(last=False)
                self.bytes -= memoryview(evicted).nbytes
                self.evictions += 1

    def _path(self, key: str) -> Path | None:
        if self.dir is None:
            return None
        path = self.dir / (key + SUFFIX)
        return path if path.exists() else None

    def _write(self, key: str, data: Any) -> None:
        try:
            self._write_file(key, data)
        finally:
            with self._lock:
                self._writing.discard(key)

    def _write_file(self, key: str, data: Any) -> None:
        assert self.dir is not None
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / (key + SUFFIX)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            with tmp.open("wb") as f:
                f.write(memoryview(data))
            tmp.replace(path)  # atomic: a reader sees the whole entry or none
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        self._trim_disk()

    def _trim_disk(self) -> None:
        assert self.dir is not None
        files = []
        for p in self.dir.glob("*" + SUFFIX):
            try:
                st = p.stat()
            except OSError:  # removed by another process meanwhile
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files, key=lambda f: f[0]):
            if total <= self.disk_max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
