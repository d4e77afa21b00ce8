"""Reading a drawn figure's text boxes from the DOM: which texts of a Plotly graph (axis titles,
tick labels, the legend, subplot titles and other annotations, the colour bar, the title) overlap
each other or stick out of the figure. Used by tests/app/test_figure_layout.py.

A 3-D scene draws its axis titles and tick labels into its WebGL canvas, not the DOM: for those
figures the DOM texts (title, legend, colour bar, annotations) are checked, and the screenshots
show the rest.
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
return {figure: {x0: figure.left, y0: figure.top, x1: figure.right, y1: figure.bottom}, boxes: out};
"""

TOLERANCE = 1.0  # px: touching is not overlapping


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
            if a["group"] != b["group"] and _overlap(a, b) > TOLERANCE:
                out.append(f"{a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}")
    return out


def text_boxes(driver, element) -> dict:
    return driver.execute_script(TEXT_BOXES_JS, element)
