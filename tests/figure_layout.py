"""Reading a drawn figure's text boxes from the DOM: which texts of a Plotly graph (axis titles,
tick labels, the legend, subplot titles and other annotations, the colour bar, the title) overlap
each other or stick out of the figure. Used by tests/app/test_figure_layout.py.

A 3-D scene draws its axis titles and tick labels into its WebGL canvas, not the DOM: for those
figures the DOM texts (title, legend, colour bar, annotations) are checked, and the scene's box is
projected with the scene's own camera matrices (gl-plot3d's cameraParams) and enlarged by the room
its tick labels and axis titles take (SCENE_ROOM): its corners must lie inside the figure and not
under a DOM text. A table's rows (Plotly's cell texts) must all be drawn inside its plot area.
"""

from __future__ import annotations

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
