"""Where data may go: every outbound destination of a configuration, and whether the profile allows it.

The embedded and local profiles promise that student data stays on the machine or the private network. A
destination is external unless its host is loopback, a private/link-local address, or a name that only a
private network resolves (a single label such as ``ollama``, or ``.local``, ``.internal``, ``.lan``,
``.home.arpa``, ``.svc``). External destinations start only when listed in ``privacy.allow`` (by provider
name or host), and shadow runs to them never carry a student's text unless ``privacy.shadow_student_text``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from jindan.domain.routes import ROUTES
from jindan.settings import Settings

PRIVATE_SUFFIXES = (".local", ".internal", ".lan", ".home.arpa", ".svc", ".localdomain")
DEFAULT_HOSTS = {"openai": "api.openai.com", "gemini": "generativelanguage.googleapis.com"}
GUARDED_PROFILES = ("embedded", "local")


@dataclass(frozen=True)
class Destination:
    component: str  # e.g. llm:hint, llm-shadow:explain, embedder, vectors, database
    provider: str
    host: str
    external: bool


class PrivacyViolation(RuntimeError):
    """A guarded profile is configured to send data off the machine without the operator's permission."""


def is_private_host(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if not host or host == "localhost" or ("." not in host and ":" not in host):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith(PRIVATE_SUFFIXES)
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _host(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url if "//" in url else f"//{url}")
    return parts.hostname or ""


def _provider_hosts(provider: str, s: Settings) -> list[str]:
    if provider == "llamacpp":
        return ["in-process"]
    if provider == "ollama":
        return [_host(h) for h in s.ollama.hosts]
    if provider == "openai":
        return [_host(s.openai.base_url) or DEFAULT_HOSTS["openai"]]
    if provider == "gemini":
        return [_host(s.gemini.base_url) or DEFAULT_HOSTS["gemini"]]
    return [provider]


def destinations(s: Settings) -> list[Destination]:
    """Every place this configuration may send data, external or not."""
    out: list[Destination] = []

    def add(component: str, provider: str, hosts: list[str]) -> None:
        for host in hosts:
            local = host == "in-process" or is_private_host(host)
            out.append(Destination(component, provider, host, not local))

    for route in ROUTES:
        for provider in s.llm.routes.get(route) or [s.llm.provider, *s.llm.fallback]:
            add(f"llm:{route}", provider, _provider_hosts(provider, s))
    for name, shadow in s.llm.shadow.items():
        add(f"llm-shadow:{name}", shadow.provider, _provider_hosts(shadow.provider, s))
    embed = s.embed.provider
    local = embed in ("e5", "sentence-transformers", "auto")
    add("embedder", embed, ["in-process"] if local else _provider_hosts(embed, s))
    if s.vectors.store == "qdrant" and s.qdrant.path is None:
        add("vectors", "qdrant", [_host(s.qdrant.url)])
    if s.database.url:
        add("database", "postgresql", [_host(s.database.url.replace("+psycopg", "")) or "localhost"])
    return out


def allowed_external(d: Destination, s: Settings) -> bool:
    allow = {a.lower() for a in s.privacy.allow}
    return d.provider in allow or d.host.lower() in allow


def violations(s: Settings) -> list[Destination]:
    """External destinations a guarded profile would reach without being allowed to."""
    if s.profile not in GUARDED_PROFILES:
        return []
    return [d for d in destinations(s) if d.external and not allowed_external(d, s)]


def enforce_offline(s: Settings) -> None:
    """Guarded profiles never let a library fetch weights or data from a hub: forced, not defaulted."""
    if s.profile in GUARDED_PROFILES:
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            os.environ[var] = "1"
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def check(s: Settings) -> None:
    bad = violations(s)
    if bad:
        listed = ", ".join(sorted({f"{d.provider} ({d.host}) for {d.component}" for d in bad}))
        names = ", ".join(sorted({f'"{d.provider}"' for d in bad}))
        raise PrivacyViolation(
            f"the {s.profile} profile keeps student data on this machine, but the configuration sends data to "
            f"{listed}. Remove it, or allow it explicitly: JINDAN_PRIVACY__ALLOW='[{names}]'"
        )


def shadow_may_carry_student_text(s: Settings, provider: str) -> bool:
    """Whether a shadow run to ``provider`` may include text a student wrote."""
    if s.privacy.shadow_student_text or s.profile not in GUARDED_PROFILES:
        return True
    return not any(d.external for d in destinations(s) if d.provider == provider)


def status(s: Settings) -> str:
    """One line for /ready and `jindan config show`."""
    external = sorted({f"{d.provider} ({d.host})" for d in destinations(s) if d.external})
    if not external:
        return "local-only: no destination outside this machine or the private network"
    guard = "allowed by privacy.allow" if s.profile in GUARDED_PROFILES else f"the {s.profile} profile"
    return f"external destinations ({guard}): {', '.join(external)}"
