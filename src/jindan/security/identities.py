"""Platform JWTs: verified with a pinned algorithm, ``iss``, ``aud``, ``exp`` and ``sub`` required.

Claims: ``sub`` is the user's ``external_id`` on the platform, ``role`` one of student / teacher / admin,
``name`` optional. Console sign-ins are the same kind of token with the console's own audience, kept in an
HttpOnly cookie.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from jindan.security.principal import USER_ROLES, Principal, Role
from jindan.security.secrets import KeyMaterial
from jindan.settings import Settings

CONSOLE_AUDIENCE = "jindan-console"


class InvalidCredentials(Exception):
    """The credential is missing, malformed, expired, revoked or signed by someone else."""


@dataclass(frozen=True)
class Claims:
    sub: str
    role: Role
    name: str | None


class JwtVerifier:
    def __init__(self, settings: Settings, keys: KeyMaterial) -> None:
        self.a = settings.auth
        self.keys = keys

    def _key(self, token: str) -> Any:
        if isinstance(self.keys.verify_key, jwt.PyJWKSet):
            kid = jwt.get_unverified_header(token).get("kid")
            for key in self.keys.verify_key.keys:
                if key.key_id == kid:
                    return key.key
            raise InvalidCredentials("token signed with an unknown key id")
        return self.keys.verify_key

    def verify(self, token: str) -> Claims:
        try:
            data = jwt.decode(
                token,
                self._key(token),
                algorithms=[self.keys.algorithm],
                audience=self.a.audience,
                issuer=self.a.issuer,
                leeway=self.a.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidCredentials(f"invalid token: {exc}") from exc
        role, sub, name = data.get("role"), data.get("sub"), data.get("name")
        if role not in USER_ROLES:
            raise InvalidCredentials(f"invalid token: role must be one of {', '.join(USER_ROLES)}")
        if not isinstance(sub, str) or not 0 < len(sub) <= 200 or "\x00" in sub:
            raise InvalidCredentials("invalid token: sub must be the platform's user id (1-200 characters)")
        return Claims(sub, role, name[:200].replace("\x00", "") if isinstance(name, str) and name else None)


def issue(
    settings: Settings, keys: KeyMaterial, sub: str, role: str, ttl_s: int = 3600, name: str | None = None
) -> str:
    """A platform-style JWT signed with the configured HS256 secret (for operators, tests and the demo)."""
    if keys.sign_secret is None:
        raise InvalidCredentials(
            f"tokens are verified with a public key ({keys.algorithm}); only the platform can sign them"
        )
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "role": role,
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, keys.sign_secret, algorithm="HS256")


def session_token(keys: KeyMaterial, p: Principal, ttl_s: int) -> str:
    """A console sign-in: the resolved principal, signed with the console's own secret and audience."""
    now = int(time.time())
    claims = {
        "aud": CONSOLE_AUDIENCE,
        "iat": now,
        "exp": now + ttl_s,
        "kind": p.kind,
        "role": p.role,
        "uid": p.user_id,
        "sub": p.external_id,
        "key": p.key_name,
        "name": p.name,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, keys.session_secret, algorithm="HS256")


def from_session(keys: KeyMaterial, token: str) -> Principal:
    try:
        c = jwt.decode(token, keys.session_secret, algorithms=["HS256"], audience=CONSOLE_AUDIENCE)
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(f"invalid sign-in: {exc}") from exc
    return Principal(c["kind"], c["role"], c.get("uid"), c.get("sub"), c.get("key"), c.get("name"))
