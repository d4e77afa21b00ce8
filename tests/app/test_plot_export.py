"""`--plot FILE` (issue 14 §3): the CLI writes the page's figure as a real PNG, SVG or PDF, chosen by
the file's extension, at a paper column's width (3.5 in; 7 in for a figure of several panels), drawn
by Plotly's static export with the Chromium already installed."""

from __future__ import annotations

import re
import struct

import pytest

from app.cli import main
from app.figures.line import line_figure
from app.figures.style import for_print


def _cli(capsys, *argv) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def svg_size(text: str) -> tuple[float, float]:
    root = re.search(r"<svg[^>]*>", text).group(0)
    return float(re.search(r'width="([\d.]+)"', root).group(1)), float(re.search(r'height="([\d.]+)"', root).group(1))


def pdf_size(data: bytes) -> tuple[float, float]:
    assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF")
    x0, y0, x1, y1 = map(float, re.search(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data).group(1).split())
    return x1 - x0, y1 - y0


def test_line_plot_in_each_format_is_a_real_file_of_a_columns_width(capsys, tmp_path, relu_run):
    run = relu_run.id
    for ext in ("png", "svg", "pdf"):
        path = tmp_path / f"fig.{ext}"
        code, err = _cli(capsys, "line", "--from", f"init:{run}", "--to", f"final:{run}", "--points", "21",
                         "--plot", str(path), "--out", str(tmp_path / "line.json"), "--local")
        assert code == 0, err
        assert f"wrote {path} (3.5 x 2.6 in)" in err
        data = path.read_bytes()
        if ext == "png":  # 300 dpi
            assert png_size(data) in ((1050, 780), (1050, 781))  # 780 × 300/96 rounded
        elif ext == "svg":  # CSS pixels, 96 to the inch
            text = data.decode()
            assert svg_size(text) == (336, 250)
            # the page's figure: its traces and its α axis title, fonts at print size (~8 pt)
            assert ">train<" in text and ">validation<" in text and "α" in text
            sizes = {float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", text)}
            assert sizes and min(sizes) >= 9 and max(sizes) <= 11, sizes
        else:  # points, 72 to the inch
            width, height = pdf_size(data)
            assert width == pytest.approx(252, abs=1) and height == pytest.approx(187.2, abs=1.5)
        assert not list(tmp_path.glob(".*.tmp"))


def test_each_command_plots_its_figure(capsys, tmp_path, relu_run):
    run = relu_run.id
    cases = [
        (("trajectory", run), "svg", (336, 250)),
        (("surface", run, "--points", "6x5"), "svg", (336, 288)),  # a 3-D scene is a little taller
        (("control", "scalar-lines"), "svg", (672, 230)),  # three panels: a page's width
    ]
    for argv, ext, size in cases:
        path = tmp_path / f"{argv[0]}.{ext}"
        code, err = _cli(capsys, *argv, "--plot", str(path), "--out", str(tmp_path / "out.json"), "--local")
        assert code == 0, err
        assert svg_size(path.read_text()) == size, argv


def test_a_plot_file_of_another_kind_is_refused_before_computing(capsys, tmp_path, relu_run):
    code, err = _cli(capsys, "trajectory", relu_run.id, "--plot", str(tmp_path / "fig.jpg"))
    assert code == 2 and err.count("\n") == 1 and ".png, .svg or .pdf" in err
    code, err = _cli(capsys, "trajectory", relu_run.id, "--plot", str(tmp_path / "missing" / "fig.png"))
    assert code == 2 and "does not exist" in err


def test_print_layout_keeps_the_pages_data(relu_run, store):
    """for_print changes the layout only: the traces are the page's, title left to the caption."""
    from compute.kinds.line import LineQuery, compute_line

    result = compute_line(LineQuery(f"init:{relu_run.id}", f"final:{relu_run.id}", points=5), store).to_json()
    page = line_figure(result, title="a title")
    printed, width, height = for_print(page)
    assert printed["data"] == page["data"] and (width, height) == (336, 250)
    assert printed["layout"]["title"]["text"] == "" and page["layout"]["title"]["text"] == "a title"
