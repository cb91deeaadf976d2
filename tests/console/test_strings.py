"""The console's words and files, checked without a server: both languages say everything the templates ask."""

from __future__ import annotations

import re
from pathlib import Path

from jindan.console.i18n import EN, KO
from jindan.console.web import HERE, safe_next

TEMPLATES = sorted((HERE / "templates").rglob("*.html"))
DYNAMIC = {  # keys the templates build from a value: every value they can take
    "role_": ("student", "teacher", "admin", "service"),
    "demo_as_": ("student", "teacher", "admin"),
    "confidence_": ("high", "mid", "low"),
    "breaker_": ("closed", "open", "half_open"),
    "error_": ("403", "404", "409", "429", "other"),
    "dx_stopped_": ("max_questions", "target_confidence", "no_questions_left"),
}


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    assert set(KO) == set(EN)
    assert all(v.strip() for v in [*KO.values(), *EN.values()])
    assert all(re.search(r"[\uac00-\ud7a3]", v) for k, v in KO.items() if k not in ("other_lang", "ollama_off"))


def test_every_key_a_template_uses_exists() -> None:
    used: set[str] = set()
    assert TEMPLATES
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\.([a-z_0-9]+)", text)) | set(re.findall(r"\bt\['([a-z_0-9]+)'\]", text))
    used |= {prefix + value for prefix, values in DYNAMIC.items() for value in values}
    used |= {"index_missing", "search_down", "signin_empty", "signin_invalid"}  # passed in by the routes
    assert sorted(used - set(KO)) == []


def test_every_template_ends_in_html_and_every_static_file_it_loads_exists() -> None:
    assert TEMPLATES and all(p.suffix == ".html" for p in (HERE / "templates").rglob("*") if p.is_file())
    base = (HERE / "templates" / "base.html").read_text(encoding="utf-8")
    for ref in re.findall(r'"/console/static/([^"]+)"', base):
        assert (HERE / "static" / ref).is_file(), ref
    css = (HERE / "static" / "katex" / "katex.min.css").read_text(encoding="utf-8")
    woff2 = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert woff2 and all((HERE / "static" / "katex" / f).is_file() for f in woff2)
    assert not re.search(r"https?://", base + (HERE / "static" / "console.css").read_text(encoding="utf-8"))


def test_sign_in_only_returns_to_console_pages() -> None:
    assert safe_next("/console/classes/3") == "/console/classes/3"
    for bad in ("https://evil.example/", "//evil.example", "/console/..\\x", "/docs", None, ""):
        assert safe_next(bad) == "/console"
    assert Path(HERE / "static" / "htmx.min.js").read_text(encoding="utf-8").startswith("var htmx")
