"""PNG plots for the report, with Hangul drawn in NanumGothic (matplotlib's own fonts have no Hangul).

The font comes from the ``koreanize-matplotlib`` package (it ships NanumGothic) or Debian's ``fonts-nanum``;
it is registered with matplotlib for these figures only, never as a global side effect.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FONT_FILES = ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf",)
COLORS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#718096"]


class FontMissing(RuntimeError):
    """No Hangul font: plots would draw boxes instead of Korean."""


def korean_font() -> Path:
    spec = importlib.util.find_spec("koreanize_matplotlib")
    folders = (spec.submodule_search_locations or []) if spec else []
    candidates = [Path(p) / "fonts" / "NanumGothic.ttf" for p in folders]
    for path in [*candidates, *map(Path, FONT_FILES)]:
        if path.exists():
            return path
    raise FontMissing("no Hangul font: pip install 'jindan[reports]' (koreanize-matplotlib) or apt install fonts-nanum")


@contextmanager
def figure(path: Path, width: float = 7.0, height: float = 3.6) -> Iterator[Any]:
    """A figure drawn with the Korean font, saved to ``path`` as PNG when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font = korean_font()
    font_manager.fontManager.addfont(str(font))
    name = font_manager.FontProperties(fname=str(font)).get_name()
    with plt.rc_context({"font.family": name, "axes.unicode_minus": False, "font.size": 9}):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            yield ax
            ax.spines[["top", "right"]].set_visible(False)
            fig.tight_layout()
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)


def distribution(data: Mapping[str, Sequence[float]], title: str, unit: str, path: Path) -> Path:
    """One box per provider (median, quartiles, whiskers at 1.5 IQR) with the points over it."""
    names = [n for n, v in data.items() if v]
    with figure(path, height=max(2.2, 0.7 * len(names) + 1.2)) as ax:
        if not names:
            ax.text(0.5, 0.5, "자료 없음 (no data)", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.boxplot([list(data[n]) for n in names], vert=False, widths=0.5, showfliers=False)
            for i, n in enumerate(names, start=1):
                ax.plot(list(data[n]), [i] * len(data[n]), "o", alpha=0.35, color=COLORS[(i - 1) % len(COLORS)])
            ax.set_yticks(range(1, len(names) + 1), names)
        ax.set_xlabel(unit)
        ax.set_title(title)
    return path


def bars(values: Mapping[str, float | None], title: str, unit: str, path: Path, fmt: str = "{:,.0f}") -> Path:
    """Horizontal bars with their values written at the end (a missing value is shown as such)."""
    names = list(values)
    with figure(path, height=max(2.2, 0.6 * len(names) + 1.2)) as ax:
        nums = [values[n] or 0.0 for n in names]
        ax.barh(range(len(names)), nums, color=[COLORS[i % len(COLORS)] for i in range(len(names))])
        for i, n in enumerate(names):
            label = "없음 (n/a)" if values[n] is None else fmt.format(values[n])
            ax.text(nums[i], i, " " + label, va="center")
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(title)
        ax.set_xlim(0, max([*nums, 1e-9]) * 1.25)
    return path


def shares(table: dict[str, dict[str, float | None]], title: str, path: Path) -> Path:
    """Grouped bars of 0..1 scores (correct, in language, ...) per provider."""
    metrics = sorted({m for row in table.values() for m, v in row.items() if v is not None})
    names = list(table)
    with figure(path, width=7.5) as ax:
        width = 0.8 / max(1, len(names))
        for i, n in enumerate(names):
            xs = [j + i * width for j in range(len(metrics))]
            ys = [table[n].get(m) or 0.0 for m in metrics]
            ax.bar(xs, ys, width, label=n, color=COLORS[i % len(COLORS)])
            for x, y in zip(xs, ys, strict=True):
                ax.text(x, y, f"{y:.0%}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], metrics)
        ax.set_ylim(0, 1.15)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper right")
    return path
