"""Service keys for the platform's backend and operators: ``jdn_<id>_<secret>``, shown once, stored hashed.

The id finds the row; ``sha256(pepper + key)`` is compared in constant time. Random 256-bit keys need no slow
password hash, so checking a key stays cheap on every request. A key acts as itself (role service or admin);
to act for a user, the backend sends that user's platform JWT instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from jindan.db.engine import Database
from jindan.db.repositories import ServiceKeyRepository
from jindan.security.principal import KEY_ROLES, Principal

PREFIX = "jdn_"
SHAPE = re.compile(r"^jdn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
TOUCH_EVERY_S = 60.0  # last-used time is written at most once a minute per key


def digest(pepper: bytes, key: str) -> str:
    return hashlib.sha256(pepper + key.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(PREFIX)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyStore:
    def __init__(self, db: Database, pepper: bytes, cache_s: float = 10.0) -> None:
        self.db, self.pepper, self.cache_s = db, pepper, cache_s
        self._cache: dict[str, tuple[float, str, Principal]] = {}  # key id -> (checked at, stored hash, principal)
        self._touched: dict[str, float] = {}
        self._active: dict[str, tuple[float, bool]] = {}  # key name -> (checked at, active)

    def create(self, name: str, role: str) -> str:
        if role not in KEY_ROLES:
            raise ValueError(f"role must be one of {', '.join(KEY_ROLES)}")
        if not 0 < len(name) <= 200:
            raise ValueError("name must be 1-200 characters")
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self.db.session() as s:
            repo = ServiceKeyRepository(s)
            if repo.by_name(name) is not None:
                raise ValueError(f"a key named {name!r} exists; revoke it or pick another name")
            repo.add(key_id, name, role, digest(self.pepper, key))
        return key

    def list(self) -> list[KeyInfo]:
        with self.db.session() as s:
            return [
                KeyInfo(k.id, k.name, k.role, k.created_at, k.last_used_at, k.revoked_at)
                for k in ServiceKeyRepository(s).all()
            ]

    def revoke(self, name_or_id: str) -> bool:
        with self.db.session() as s:
            done = ServiceKeyRepository(s).revoke(name_or_id)
        self._cache.clear()
        self._active.clear()
        return done

    def active(self, name: str) -> bool:
        """Whether a key of that name exists and is not revoked (console sign-ins made with a key re-check it)."""
        now = time.monotonic()
        hit = self._active.get(name)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        with self.db.session() as s:
            row = ServiceKeyRepository(s).by_name(name)
            ok = row is not None and row.revoked_at is None
        self._active[name] = (now, ok)
        return ok

    def cached(self, key: str) -> Principal | None:
        """A key checked within the last ``cache_s`` seconds, without PostgreSQL; None when it must be looked up."""
        m = SHAPE.match(key)
        hit = self._cache.get(m.group(1)) if m else None
        if hit is None or time.monotonic() - hit[0] >= self.cache_s:
            return None
        return hit[2] if hmac.compare_digest(digest(self.pepper, key), hit[1]) else None

    def verify(self, key: str) -> Principal | None:
        m = SHAPE.match(key)
        if m is None:
            return None
        key_id, now = m.group(1), time.monotonic()
        cached = self._cache.get(key_id)
        want = digest(self.pepper, key)
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[2] if hmac.compare_digest(want, cached[1]) else None
        with self.db.session() as s:
            repo = ServiceKeyRepository(s)
            row = repo.get(key_id)
            if row is None or row.revoked_at is not None or not hmac.compare_digest(want, row.hash):
                self._cache.pop(key_id, None)
                return None
            if now - self._touched.get(key_id, -TOUCH_EVERY_S) >= TOUCH_EVERY_S:
                repo.touch(key_id)
                self._touched[key_id] = now
            principal = Principal("key", row.role, key_name=row.name)  # type: ignore[arg-type]
            self._cache[key_id] = (now, row.hash, principal)
        return principal
