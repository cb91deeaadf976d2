"""Key material for verifying platform JWTs and hashing service keys, resolved once from the settings.

Outside the embedded profile every secret must be configured (a missing one stops start-up and names the
setting). The embedded profile generates its own under ``JINDAN_HOME/secrets.json`` (mode 0600) on first use,
so a newcomer can mint tokens with `jindan auth token` and nothing is ever empty or short.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jindan.settings import Settings
from jindan.settings_sections import MIN_SECRET


class AuthConfigError(RuntimeError):
    """The authentication settings are incomplete; the message names the setting to fix."""


@dataclass(frozen=True)
class KeyMaterial:
    algorithm: str
    verify_key: Any  # HS256: the secret; RS/ES: a PEM public key; or a jwt.PyJWKSet
    sign_secret: str | None  # HS256 only: lets `jindan auth token` mint tokens
    pepper: bytes
    session_secret: str  # signs console sign-in cookies (derived from the pepper)


def _generated(home: Path) -> dict[str, str]:
    path = home / "secrets.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    home.mkdir(parents=True, exist_ok=True)
    data = {"jwt_secret": secrets.token_hex(32), "key_pepper": secrets.token_hex(32)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def resolve(s: Settings) -> KeyMaterial:
    a = s.auth
    embedded = s.profile == "embedded"
    generated = _generated(s.home) if embedded and (a.key_pepper is None or a.jwt_secret is None) else {}
    pepper = a.key_pepper.get_secret_value() if a.key_pepper else generated.get("key_pepper")
    if not pepper:
        raise AuthConfigError(f"profile {s.profile!r} needs JINDAN_AUTH__KEY_PEPPER (>= {MIN_SECRET} characters)")
    if a.jwt_algorithm == "HS256":
        secret = a.jwt_secret.get_secret_value() if a.jwt_secret else generated.get("jwt_secret")
        if not secret:
            raise AuthConfigError(
                f"profile {s.profile!r} needs the platform's JWT secret: set JINDAN_AUTH__JWT_SECRET "
                f"(>= {MIN_SECRET} characters), or JINDAN_AUTH__JWT_ALGORITHM=RS256 with JINDAN_AUTH__JWT_PUBLIC_KEY"
            )
        verify: Any = secret
        sign: str | None = secret
    else:
        verify, sign = _public(s), None
    session = hmac.new(pepper.encode(), b"jindan console session", hashlib.sha256).hexdigest()
    return KeyMaterial(a.jwt_algorithm, verify, sign, pepper.encode(), session)


def _public(s: Settings) -> Any:
    import jwt

    a = s.auth
    if a.jwks_file is not None:
        try:
            return jwt.PyJWKSet.from_json(Path(a.jwks_file).read_text())
        except (OSError, jwt.PyJWTError) as exc:
            raise AuthConfigError(f"JINDAN_AUTH__JWKS_FILE {a.jwks_file}: {exc}") from exc
    if a.jwt_public_key is not None:
        try:
            return Path(a.jwt_public_key).read_text()
        except OSError as exc:
            raise AuthConfigError(f"JINDAN_AUTH__JWT_PUBLIC_KEY {a.jwt_public_key}: {exc}") from exc
    raise AuthConfigError(
        f"JINDAN_AUTH__JWT_ALGORITHM={a.jwt_algorithm} needs JINDAN_AUTH__JWT_PUBLIC_KEY (PEM) or "
        "JINDAN_AUTH__JWKS_FILE"
    )
