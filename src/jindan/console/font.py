"""The console's Hangul web font: NanumGothic from a package, made loadable by browsers, built once per process.

The TTF that koreanize-matplotlib (and Debian's fonts-nanum) ship carries empty hinting-source tables (TSI*),
which Chrome's font sanitizer rejects, so the font is rebuilt without them as WOFF: every glyph kept (any
Korean text can appear on a page), the family renamed "Jindan Hangul" as the Open Font License asks of a
modified font. Without the font package or fontTools the route answers 404 and browsers use the system's fonts.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)
FAMILY = "Jindan Hangul"
DROP = ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5", "DSIG"]
_lock = threading.Lock()
_built: list[bytes | None] = []


def _source() -> Path | None:
    try:
        from jindan.reports.plots import FontMissing, korean_font
    except ImportError:
        return None
    try:
        return korean_font()
    except FontMissing:
        return None


def _build(path: Path) -> bytes | None:
    try:
        from fontTools import subset  # type: ignore[import-untyped]  # comes with matplotlib (reports extra)
    except ImportError:
        return None
    options = subset.Options()
    options.flavor = "woff"
    options.drop_tables += DROP
    options.name_IDs = ["*"]
    options.layout_features = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(path), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=font.getBestCmap().keys())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(FAMILY, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName("JindanHangul-Regular", 6, record.platformID, record.platEncID, record.langID)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    log.info("console web font built from %s (%d bytes)", path, buf.tell())
    return buf.getvalue()


def web_font(cache: Path) -> bytes | None:
    """The WOFF bytes, or None where no Hangul font is installed. Built on first use (seconds) and kept in
    ``cache`` (a file under JINDAN_HOME), so a restart reads it back."""
    with _lock:
        if not _built:
            source = _source()
            data: bytes | None = None
            if source is not None and cache.exists() and cache.stat().st_mtime >= source.stat().st_mtime:
                data = cache.read_bytes()
            elif source is not None:
                data = _build(source)
                if data is not None:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    cache.write_bytes(data)
            _built.append(data)
        return _built[0]
