"""Platform JWTs (HS256, RS256 with a PEM key, ES256 from a JWKS file), service keys, secrets."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr, ValidationError

from jindan.db.engine import Database
from jindan.db.models import User
from jindan.security.authenticate import Authenticator, serves_open
from jindan.security.identities import InvalidCredentials, JwtVerifier, issue
from jindan.security.keys import KeyStore
from jindan.security.secrets import AuthConfigError, resolve
from jindan.settings import Settings
from tests.fixtures.auth import PEPPER, SECRET


def hs(tmp_path: Path, **auth: object) -> Settings:
    return Settings(home=tmp_path, auth={"jwt_secret": SECRET, "key_pepper": PEPPER, **auth})  # type: ignore[arg-type]


def claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": "u-1", "role": "student", "iss": "platform", "aud": "jindan", "exp": now + 60}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_hs256_round_trip_and_every_required_claim(tmp_path: Path) -> None:
    s = hs(tmp_path)
    v = JwtVerifier(s, resolve(s))
    assert v.verify(issue(s, resolve(s), "u-1", "teacher", name="박선생")).role == "teacher"
    for bad, why in [
        (claims(exp=int(time.time()) - 120), "expired"),
        (claims(aud="other"), "audience"),
        (claims(iss="evil"), "issuer"),
        (claims(sub=None), "sub"),
        (claims(exp=None), "exp"),
        (claims(role="superuser"), "role"),
        (claims(role=None), "role"),
    ]:
        with pytest.raises(InvalidCredentials, match=f"(?i){why}"):
            v.verify(jwt.encode(bad, SECRET, algorithm="HS256"))
    with pytest.raises(InvalidCredentials, match=r"[Ss]ignature"):  # signed with another secret
        v.verify(jwt.encode(claims(), "x" * 40, algorithm="HS256"))
    with pytest.raises(InvalidCredentials, match="alg value is not allowed"):  # pinned: "none" is never accepted
        v.verify(jwt.encode(claims(), None, algorithm="none"))


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _hs256_by_hand(payload: dict[str, object], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (PyJWT refuses to use a PEM public key as an HMAC secret, an
    attacker's tooling does not): the algorithm-confusion attack on a verifier that trusts the header."""
    import base64
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(payload).encode())
    return head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def test_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "pub.pem").write_bytes(_pem(private))
    s = Settings(
        home=tmp_path, auth={"jwt_algorithm": "RS256", "jwt_public_key": tmp_path / "pub.pem", "key_pepper": PEPPER}
    )  # type: ignore[arg-type]
    v = JwtVerifier(s, resolve(s))
    assert v.verify(jwt.encode(claims(role="admin"), private, algorithm="RS256")).role == "admin"
    with pytest.raises(InvalidCredentials, match="alg value is not allowed"):  # HS256 keyed with the public key
        v.verify(_hs256_by_hand(claims(), (tmp_path / "pub.pem").read_bytes()))
    with pytest.raises(InvalidCredentials, match="only the platform can sign"):
        issue(s, resolve(s), "u", "student")


def test_es256_from_a_jwks_file_by_kid(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]}))
    s = Settings(
        home=tmp_path, auth={"jwt_algorithm": "ES256", "jwks_file": tmp_path / "jwks.json", "key_pepper": PEPPER}
    )  # type: ignore[arg-type]
    v = JwtVerifier(s, resolve(s))
    assert v.verify(jwt.encode(claims(), private, algorithm="ES256", headers={"kid": "k1"})).sub == "u-1"
    with pytest.raises(InvalidCredentials, match="unknown key id"):
        v.verify(jwt.encode(claims(), private, algorithm="ES256", headers={"kid": "k2"}))


@pytest.mark.parametrize("field", ["jwt_secret", "key_pepper"])
@pytest.mark.parametrize("value", ["", "short", "x" * 31])
def test_no_empty_or_short_secret_is_accepted(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(auth={field: value})  # type: ignore[arg-type]


def test_outside_embedded_a_missing_secret_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="JINDAN_AUTH__KEY_PEPPER"):
        resolve(Settings(profile="local", home=tmp_path))
    with pytest.raises(AuthConfigError, match="JINDAN_AUTH__JWT_SECRET"):
        resolve(Settings(profile="local", home=tmp_path, auth={"key_pepper": PEPPER}))  # type: ignore[arg-type]
    with pytest.raises(AuthConfigError, match="JWT_PUBLIC_KEY"):
        resolve(Settings(profile="local", home=tmp_path, auth={"key_pepper": PEPPER, "jwt_algorithm": "RS256"}))  # type: ignore[arg-type]


def test_embedded_generates_private_secrets_once(tmp_path: Path) -> None:
    first = resolve(Settings(home=tmp_path))
    assert len(first.sign_secret or "") >= 32 and len(first.pepper) >= 32
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert resolve(Settings(home=tmp_path)).sign_secret == first.sign_secret


def test_open_only_on_loopback(tmp_path: Path) -> None:
    assert serves_open(Settings(home=tmp_path))
    assert serves_open(Settings(home=tmp_path, server={"host": "::1"}))  # type: ignore[arg-type]
    with pytest.raises(AuthConfigError, match="only on loopback"):
        serves_open(Settings(home=tmp_path, server={"host": "0.0.0.0"}))  # type: ignore[arg-type]
    assert not serves_open(Settings(home=tmp_path, server={"host": "0.0.0.0"}, auth={"open": False}))  # type: ignore[arg-type]
    assert not serves_open(Settings(profile="local", home=tmp_path))


def test_service_keys_are_stored_hashed_shown_once_and_revocable(settings: Settings, db: Database) -> None:
    settings.auth.key_pepper = SecretStr(PEPPER)
    store = KeyStore(db, PEPPER.encode(), cache_s=0)
    key = store.create("platform-backend", "service")
    assert key.startswith("jdn_")
    with db.engine.connect() as c:
        dump = repr(c.exec_driver_sql("SELECT * FROM service_keys").fetchall())
    assert key not in dump and key.split("_", 2)[2] not in dump  # the secret may itself contain "_"
    p = store.verify(key)
    assert p is not None and p.role == "service" and p.key_name == "platform-backend"
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify("jdn_000000000000_" + "x" * 43) is None
    assert KeyStore(db, b"another-pepper-" * 3).verify(key) is None
    [info] = store.list()
    assert info.last_used_at is not None and info.revoked_at is None
    with pytest.raises(ValueError, match="exists"):
        store.create("platform-backend", "admin")
    with pytest.raises(ValueError, match="role"):
        store.create("x", "student")
    assert store.revoke("platform-backend") and not store.revoke("platform-backend")
    assert store.verify(key) is None


def test_users_are_created_on_first_sight_and_follow_the_platform(settings: Settings, db: Database) -> None:
    settings.auth.jwt_secret, settings.auth.key_pepper = SecretStr(SECRET), SecretStr(PEPPER)
    auth = Authenticator(settings, db)
    p = auth.principal(issue(settings, auth.material, "kim-7", "student", name="김"))
    again = Authenticator(settings, db).principal(issue(settings, auth.material, "kim-7", "teacher"))
    assert p.user_id == again.user_id and again.role == "teacher"
    with db.session() as s:
        user = s.get(User, p.user_id)
        assert user is not None and user.role == "teacher" and user.name == "김"
    with pytest.raises(InvalidCredentials):
        auth.principal("jdn_nope")


def test_a_console_sign_in_made_with_a_key_ends_when_the_key_is_revoked(settings: Settings, db: Database) -> None:
    settings.auth.jwt_secret, settings.auth.key_pepper = SecretStr(SECRET), SecretStr(PEPPER)
    auth = Authenticator(settings, db)
    key = auth.keys.create("ops-kim", "admin")
    cookie = auth.session_cookie(auth.principal(key))
    assert auth.session(cookie).key_name == "ops-kim"
    auth.keys.revoke("ops-kim")
    with pytest.raises(InvalidCredentials, match="revoked"):
        auth.session(cookie)
    with pytest.raises(InvalidCredentials):
        auth.session(cookie[:-2] + "xx")
