"""Credential -> Principal: the one place that knows every way a caller can prove who they are."""

from __future__ import annotations

import ipaddress

from jindan.db.engine import Database
from jindan.db.repositories import UserRepository
from jindan.security import identities, keys
from jindan.security.identities import InvalidCredentials
from jindan.security.principal import Principal
from jindan.security.secrets import AuthConfigError, KeyMaterial, resolve
from jindan.settings import Settings

USER_CACHE = 10_000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serves_open(settings: Settings) -> bool:
    """Whether requests without credentials are let in: the embedded profile on loopback, and only there."""
    if settings.profile != "embedded" or not settings.auth.open:
        return False
    if not is_loopback(settings.server.host):
        raise AuthConfigError(
            f"the embedded profile serves an open API only on loopback, not on {settings.server.host}: "
            "set JINDAN_AUTH__OPEN=false (then every request needs a platform JWT or a service key), "
            "or bind to 127.0.0.1"
        )
    return True


class Authenticator:
    def __init__(self, settings: Settings, db: Database, material: KeyMaterial | None = None) -> None:
        self.settings = settings
        self.material = material or resolve(settings)
        self.open = serves_open(settings)
        self.jwt = identities.JwtVerifier(settings, self.material)
        self.keys = keys.KeyStore(db, self.material.pepper, settings.auth.key_cache_s)
        self.db = db
        self._users: dict[tuple[str, str, str | None], int] = {}

    def principal(self, credential: str) -> Principal:
        """A bearer credential (service key or platform JWT) as a principal; InvalidCredentials otherwise."""
        if keys.looks_like_key(credential):
            p = self.keys.verify(credential)
            if p is None:
                raise InvalidCredentials("unknown or revoked service key")
            return p
        claims = self.jwt.verify(credential)
        return Principal("user", claims.role, self._user_id(claims), claims.sub, name=claims.name)

    def cached(self, credential: str) -> Principal | None:
        """The principal when it can be known without PostgreSQL (a JWT of a user already seen), else None."""
        if keys.looks_like_key(credential):
            return self.keys.cached(credential)
        claims = self.jwt.verify(credential)
        uid = self._users.get((claims.sub, claims.role, claims.name))
        return None if uid is None else Principal("user", claims.role, uid, claims.sub, name=claims.name)

    def session(self, cookie: str) -> Principal:
        """A console sign-in; one made with a service key ends when the key is revoked (checked every few s)."""
        p = identities.from_session(self.material, cookie)
        if p.kind == "key" and not self.keys.active(p.key_name or ""):
            raise InvalidCredentials("the service key of this sign-in was revoked")
        return p

    def session_cookie(self, p: Principal) -> str:
        return identities.session_token(self.material, p, self.settings.auth.session_ttl_s)

    def _user_id(self, c: identities.Claims) -> int:
        key = (c.sub, c.role, c.name)
        uid = self._users.get(key)
        if uid is None:
            with self.db.session() as s:
                uid = UserRepository(s).sync(c.sub, c.role, c.name)
            if len(self._users) >= USER_CACHE:
                self._users.clear()
            self._users[key] = uid
        return uid

    def relations(self) -> DbRelations:
        return DbRelations(self.db)


class DbRelations:
    """Who teaches whom, read from PostgreSQL for the rule table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def teaches_student(self, teacher_id: int, student_id: int) -> bool:
        with self.db.session() as s:
            return UserRepository(s).teaches_student(teacher_id, student_id)

    def teaches_class(self, teacher_id: int, class_id: int) -> bool:
        with self.db.session() as s:
            return UserRepository(s).teaches_class(teacher_id, class_id)
