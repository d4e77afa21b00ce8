"""Figures written to files for papers: `.png`, `.svg` or `.pdf` by the file's extension, the page's
own figure (the same builders) laid out for print by `style.for_print`: a column's width (3.5 in;
a page's, 7 in, for a figure of three panels or more), fonts at about 8 pt, no title.

Plotly's static export (kaleido) draws with the Chromium already on the machine; nothing is
downloaded. A PNG is at 300 dpi; an SVG's size is in CSS pixels (96 to the inch); a PDF's in
points (72 to the inch).
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from models.errors import BadInput

from .style import CSS_DPI, PNG_DPI, for_print

FORMATS = ("png", "svg", "pdf")


def plot_format(path: str) -> str:
    """The format a --plot file's extension names; BadInput for another."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInput(f"--plot {path}: the file must end in .png, .svg or .pdf", field="plot")
    return fmt


_kaleido_lock = threading.Lock()
_kaleido_open = False


def _one_chromium() -> None:
    """Kaleido's own server (one Chromium) for every figure this process writes, started at the first
    one and stopped at exit; without it each figure starts and stops a Chromium of its own."""
    global _kaleido_open
    if _kaleido_open:
        return
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    atexit.register(kaleido.stop_sync_server, silence_warnings=True)
    _kaleido_open = True


def write_figure(fig: dict, path: str, width_in: float | None = None) -> tuple[int, int]:
    """Write `fig` for print to `path` (format from its extension); returns (width, height) in CSS
    pixels. Written beside the target and renamed into place: no half-written file is left."""
    fmt = plot_format(path)
    printed, width, height = for_print(fig, width_in)
    import plotly.io as pio  # kaleido starts Chromium: only when a figure is written

    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with _kaleido_lock:  # one figure at a time through the one Chromium (the page's requests are threads)
            _one_chromium()
            image = pio.to_image(printed, format=fmt, width=width, height=height,
                                 scale=PNG_DPI / CSS_DPI if fmt == "png" else 1)
        tmp.write_bytes(image)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path}: {exc.strerror}", field="plot") from None
    return width, height
