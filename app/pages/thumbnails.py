"""The home page's thumbnails of the paper's figures, written as small SVG files into
app/assets/thumbs/ (committed; nothing is drawn or fetched when the page is served):

    .venv/bin/python -m app.pages.thumbnails

They are sketches of each figure's kind (a line's curve, an α–β path, a heat map, a surface), drawn
from closed-form shapes so that they are the same on every machine — the views draw the real ones."""

from __future__ import annotations

import math
from pathlib import Path

from .home import FIGURES

W, H = 120, 80
OUT = Path(__file__).resolve().parent.parent / "assets" / "thumbs"
TRAIN, VALID, PATH = "#1f5fa8", "#e4572e", "#e4572e"


def _poly(points, color: str, width: float = 1.6, dash: str = "") -> str:
    d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"{extra}/>'


def _curve(f, lo=0.0, hi=1.0, n=40):
    """Points of y = f(t) for t in [lo, hi], in the frame (8..112, 8..72), f in [0, 1]."""
    return [(8 + 104 * i / (n - 1), 72 - 64 * f(lo + (hi - lo) * i / (n - 1))) for i in range(n)]


def _frame() -> str:
    return '<rect x="8" y="8" width="104" height="64" fill="white" stroke="#bbb"/>'


def line(kind: str) -> str:
    shapes = {
        "line": (lambda t: 0.9 * math.exp(-4 * t) + 0.05 * t * t, lambda t: 0.92 * math.exp(-3.6 * t) + 0.12 * t * t),
        "zoom": (lambda t: 0.9 - 0.7 * t, lambda t: 0.92 - 0.66 * t),
        "seeds": (lambda t: 0.1 + 0.7 * math.sin(math.pi * t) ** 2, lambda t: 0.15 + 0.68 * math.sin(math.pi * t) ** 2),
        "learning": (lambda t: 0.9 * math.exp(-5 * t) + 0.05, lambda t: 0.9 * math.exp(-4.5 * t) + 0.12),
    }
    a, b = shapes[kind]
    return _frame() + _poly(_curve(a), TRAIN) + _poly(_curve(b), VALID, dash="3,2")


def compare() -> str:
    out = _frame()
    for i, color in enumerate(("#1f5fa8", "#4c9a2a", "#8e44ad")):
        out += _poly(_curve(lambda t, k=i: 0.9 * math.exp(-(3 + 2 * k) * t) + 0.04 * (k + 1)), color)
    return out


def alpha_beta(kind: str) -> str:
    out = _frame()
    if kind == "walks":
        for k, color in enumerate(("#1f5fa8", "#4c9a2a", "#8e44ad")):
            out += _poly(_curve(lambda t, k=k: math.sin(math.pi * t) ** (1 + k) * (0.9 - 0.2 * k)), color)
    else:
        out += _poly(_curve(lambda t: 0.85 * math.sin(math.pi * t ** 0.6)), PATH)
    return out


def heatmap() -> str:
    cells = []
    for i in range(12):
        for j in range(8):
            x, y = -2 + 4 * i / 11, -1.5 + 3 * j / 7
            v = min(1.0, (1 - x * y) ** 2 / 9)
            g = int(40 + 200 * v)
            cells.append(f'<rect x="{8 + i * 104 / 12:.1f}" y="{8 + j * 8}" width="{104 / 12 + 0.5:.1f}" height="8.5" '
                         f'fill="rgb({g // 3},{g // 2 + 40},{255 - g // 2})"/>')
    path = [(30 + 60 * t, 60 - 40 * t ** 0.5) for t in (i / 15 for i in range(16))]
    return "".join(cells) + _poly(path, PATH, 2)


def surface(kind: str) -> str:
    """An isometric wireframe of a bowl (or a tilted plane for the controls) with a path on it."""
    def z(a, b):
        return 0.4 * a * a + 0.3 * b * b if kind != "plane" else 0.25 * a + 0.15 * b + 0.4

    def at(a, b):
        return 60 + 34 * (a - b), 52 + 12 * (a + b) - 38 * z(a, b) + 14

    out = ""
    for k in range(7):
        u = -1 + 2 * k / 6
        out += _poly([at(u, -1 + 2 * i / 10) for i in range(11)], "#7aa6c2", 0.8)
        out += _poly([at(-1 + 2 * i / 10, u) for i in range(11)], "#7aa6c2", 0.8)
    out += _poly([at(-0.9 + 1.8 * t, 0.6 * math.sin(math.pi * t)) for t in (i / 20 for i in range(21))], PATH, 2)
    return out


def thumbnail(view: str, query: str, number: int) -> str:
    if view == "line":
        body = line("zoom" if "zoom" in query else "seeds" if "pair=seeds" in query else "line")
    elif view == "compare":
        body = compare()
    elif view == "trajectory":
        body = alpha_beta("trajectory")
    elif view == "surface":
        body = surface("plane" if "kind=" in query else "bowl")
    elif "factored" in query:
        body = heatmap()
    elif "random-walk" in query or "convex" in query:
        body = alpha_beta("walks")
    elif "extremes" in query:
        body = alpha_beta("trajectory")
    else:
        body = line("seeds" if number == 10 else "line")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">'
            f'<rect width="{W}" height="{H}" fill="#f7f9fb"/>{body}</svg>\n')


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for fig in FIGURES:
        (OUT / f"fig-{fig.number:02d}.svg").write_text(thumbnail(fig.path, fig.query, fig.number))
    print(f"{len(FIGURES)} thumbnails in {OUT}")


if __name__ == "__main__":
    main()
