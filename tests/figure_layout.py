"""Reading a drawn figure's text boxes from the DOM: which texts of a Plotly graph (axis titles,
tick labels, the legend, subplot titles and other annotations, the colour bar, the title) overlap
each other or stick out of the figure. Used by tests/app/test_figure_layout.py.

A 3-D scene draws its axis titles and tick labels into its WebGL canvas, not the DOM: for those
figures the DOM texts (title, legend, colour bar, annotations) are checked, and the scene's box is
projected with the scene's own camera matrices (gl-plot3d's cameraParams) and enlarged by the room
its tick labels and axis titles take (SCENE_ROOM): its corners must lie inside the figure and not
under a DOM text. What the scene drew is also read back from the rendered page (`scene_edges`: a
screenshot of the figure through Chromium's DevTools): no pixel of its tick labels, axis titles,
box or surface may lie on the edge of the scene's viewport, where WebGL cuts what does not fit
(the "β (along v(t))" title and the front corner were cut there), DOM overlays (legend, colour bar,
title, notes, the mode bar) set aside. A table's rows (Plotly's cell texts) must all be drawn inside
its plot area.
"""

from __future__ import annotations

import base64

# Returns [{kind, group, text, x0, y0, x1, y1}] for every visible text box of the graph, and the
# figure's own box. A box's `group` says which boxes belong to one element (the legend's entries,
# one colour bar): boxes of one group are not checked against each other.
TEXT_BOXES_JS = r"""
const gd = arguments[0].querySelector('.js-plotly-plot') || arguments[0];
const out = [];
const figure = gd.getBoundingClientRect();
function visible(el) {
  for (let e = el; e && e !== gd; e = e.parentElement) {
    const s = getComputedStyle(e);
    if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
  }
  return true;
}
function add(el, kind, group) {
  if (!el || !visible(el)) return;
  const text = (el.textContent || '').trim();
  if (kind !== 'legend' && text === '') return;
  const r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1) return;
  out.push({kind, group, text: text.slice(0, 60), x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
}
gd.querySelectorAll('.gtitle').forEach(e => add(e, 'title', 'title'));
gd.querySelectorAll('text[class$="title"]').forEach(e => {
  const c = e.getAttribute('class');
  if (/^[xy]\d*title$/.test(c)) add(e, 'axis title', c);
});
gd.querySelectorAll('g[class$="tick"] > text, g[class$="tick2"] > text').forEach(e => {
  const c = e.parentElement.getAttribute('class');
  if (/^[xy]\d*tick2?$/.test(c) && e.closest('.colorbar') === null) add(e, 'tick label', 'tick ' + c + ' ' + e.textContent);
});
gd.querySelectorAll('g.legend').forEach((e, i) => add(e.querySelector('rect.bg') || e, 'legend', 'legend' + i));
gd.querySelectorAll('g.annotation').forEach((e, i) => {
  add(e.querySelector('.annotation-text-g') || e, 'annotation', 'annotation' + i);
});
gd.querySelectorAll('g.colorbar').forEach((e, i) => {
  e.querySelectorAll('text').forEach(t => add(t, 'colour bar', 'colorbar' + i));
});
// 3-D scenes: the corners of the box around the data, grown by the room of ticks and titles,
// projected to the page by the scene's camera (clip = projection * view * model * corner)
const room = arguments[1];
Object.keys(gd._fullLayout || {}).filter(k => /^scene\d*$/.test(k)).forEach(k => {
  const scene = gd._fullLayout[k]._scene;
  const gl = scene && scene.glplot;
  if (!gl || !gl.cameraParams || !gl.bounds) return;
  const canvas = gl.canvas.getBoundingClientRect();
  const [lo, hi] = gl.bounds, c = gl.cameraParams;
  const mul = (m, v) => [0, 1, 2, 3].map(r => m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3]);
  for (let i = 0; i < 8; i++) {
    const p = [0, 1, 2].map(a => {
      const mid = (lo[a] + hi[a]) / 2, half = (hi[a] - lo[a]) / 2 * (1 + room);
      return (i >> a) & 1 ? mid + half : mid - half;
    });
    const clip = mul(c.projection, mul(c.view, mul(c.model, [p[0], p[1], p[2], 1])));
    const x = canvas.left + (clip[0] / clip[3] + 1) / 2 * canvas.width;  // the canvas is the scene's viewport
    const y = canvas.top + (1 - clip[1] / clip[3]) / 2 * canvas.height;
    out.push({kind: 'scene corner', group: 'scene', text: k + ' corner ' + i, x0: x - 1, y0: y - 1, x1: x + 1, y1: y + 1});
  }
});
// tables: every row's text inside the plot area (a row past it is cut, or scrolled out of sight)
gd.querySelectorAll('.table .cell-text').forEach((e, i) => add(e, 'table row', 'table'));
const tables = (gd.data || []).filter(t => t.type === 'table');
const rows = tables.map(t => ((t.cells || {}).values || [[]])[0].length);
const drawn = [...gd.querySelectorAll('.table .y-column')].slice(0, 1).map(col => col.querySelectorAll('.cell-text').length);
const area = gd._fullLayout ? gd._fullLayout._size : null;
return {figure: {x0: figure.left, y0: figure.top, x1: figure.right, y1: figure.bottom}, boxes: out,
        table: tables.length ? {rows: rows[0], drawn: drawn[0] || 0,
                                bottom: figure.top + area.t + area.h, top: figure.top + area.t} : null};
"""

TOLERANCE = 1.0  # px: touching is not overlapping
SCENE_ROOM = 0.25  # a 3-D box's tick labels and axis title: a quarter of its size outside each face


def _overlap(a: dict, b: dict) -> float:
    w = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
    h = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
    return min(w, h) if w > 0 and h > 0 else 0.0


def problems(found: dict) -> list[str]:
    """What is wrong with a figure's text boxes: pairs that intersect, boxes cut by the figure's edge."""
    figure, boxes = found["figure"], found["boxes"]
    out = []
    for box in boxes:
        if (box["x0"] < figure["x0"] - TOLERANCE or box["x1"] > figure["x1"] + TOLERANCE
                or box["y0"] < figure["y0"] - TOLERANCE or box["y1"] > figure["y1"] + TOLERANCE):
            out.append(f"{box['kind']} {box['text']!r} is cut off by the figure's edge")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["group"] != b["group"] and _overlap(a, b) > TOLERANCE and "table row" not in (a["kind"], b["kind"]):
                out.append(f"{a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}")
    table = found.get("table")
    if table:
        if table["drawn"] < table["rows"] + 1:  # + the header
            out.append(f"table: {table['drawn']} of {table['rows'] + 1} rows drawn (the rest cut or scrolled)")
        for box in boxes:
            if box["kind"] == "table row" and box["y1"] > table["bottom"] + TOLERANCE:
                out.append(f"table row {box['text']!r} is cut by the table's bottom edge")
    return out


def text_boxes(driver, element) -> dict:
    return driver.execute_script(TEXT_BOXES_JS, element, SCENE_ROOM)


# The scenes' viewports and the DOM overlays on them, in the figure's own pixels (origin at its top left).
SCENE_VIEWPORTS_JS = r"""
const gd = arguments[0].querySelector('.js-plotly-plot') || arguments[0];
gd.scrollIntoView({block: 'start'});  // the capture is of the viewport: the figure inside it
const f = gd.getBoundingClientRect();
const rel = r => ({x0: r.left - f.left, y0: r.top - f.top, x1: r.right - f.left, y1: r.bottom - f.top});
const scenes = Object.keys(gd._fullLayout || {}).filter(k => /^scene\d*$/.test(k))
  .map(k => ({name: k, scene: gd._fullLayout[k]._scene})).filter(s => s.scene && s.scene.glplot)
  .map(s => ({name: s.name, ...rel(s.scene.glplot.canvas.getBoundingClientRect())}));
const overlays = [...gd.querySelectorAll('.legend, .colorbar, .annotation, .gtitle, .modebar')]
  .map(e => rel(e.getBoundingClientRect())).filter(r => r.x1 > r.x0 && r.y1 > r.y0);
return {figure: {x: f.left + window.scrollX, y: f.top + window.scrollY, width: f.width, height: f.height},
        fits: f.top >= 0 && f.bottom <= window.innerHeight && f.left >= 0 && f.right <= window.innerWidth,
        scenes, overlays};
"""

# Reads a PNG (base64) into pixels and, for each scene, the pixels on each edge of its viewport (a band
# EDGE px deep, clipped to the figure) that differ from white by more than INK, outside the overlays.
EDGE_PIXELS_JS = r"""
const [png, scenes, overlays, band, ink, done] = arguments;
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  const covered = (x, y) => overlays.some(o => x >= o.x0 - 1 && x <= o.x1 + 1 && y >= o.y0 - 1 && y <= o.y1 + 1);
  const inked = (x, y) => {
    const i = 4 * (y * c.width + x);
    return Math.max(255 - px[i], 255 - px[i + 1], 255 - px[i + 2]) > ink && !covered(x, y);
  };
  done(scenes.map(s => {
    const x0 = Math.max(0, Math.ceil(s.x0)), x1 = Math.min(c.width, Math.floor(s.x1));
    const y0 = Math.max(0, Math.ceil(s.y0)), y1 = Math.min(c.height, Math.floor(s.y1));
    const count = (xa, xb, ya, yb) => {
      let n = 0;
      for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) n += inked(x, y) ? 1 : 0;
      return n;
    };
    return {name: s.name, top: count(x0, x1, y0, y0 + band), bottom: count(x0, x1, y1 - band, y1),
            left: count(x0, x0 + band, y0, y1), right: count(x1 - band, x1, y0, y1)};
  }));
};
img.onerror = () => done(null);
img.src = 'data:image/png;base64,' + png;
"""

EDGE = 3  # px: the band along a viewport's edge that must stay empty
INK = 60  # how far from white a pixel must be to count as drawn (gridlines' anti-aliasing is fainter)


def scene_edges(driver, element, save_to=None) -> list[str]:
    """What a figure's 3-D scenes drew on the edges of their viewports: one line per scene and edge
    with pixels drawn there (empty: nothing cut). The figure is scrolled into the window and captured
    as rendered (WebGL included; not beyond the window, which would resize the page and redraw it),
    and kept as a PNG at `save_to` when given."""
    found = driver.execute_script(SCENE_VIEWPORTS_JS, element)
    if not found["scenes"]:
        return []
    assert found["fits"], "the figure is larger than the window: its capture would be cut"
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "clip": {**{k: found["figure"][k] for k in ("x", "y", "width", "height")}, "scale": 1}})["data"]
    if save_to is not None:
        save_to.write_bytes(base64.b64decode(shot))
    edges = driver.execute_async_script(EDGE_PIXELS_JS, shot, found["scenes"], found["overlays"], EDGE, INK)
    assert edges is not None, "the figure's capture could not be read"
    return [f"{e['name']}: {e[side]} px drawn on its {side} edge (cut off there)"
            for e in edges for side in ("top", "bottom", "left", "right") if e[side]]
