"""Plotly figures from results' JSON: pure functions, no I/O, no tensor math, the one place a
figure is built: the page (app/views/*), the CLI's `--plot FILE` (app/figures/export.py) and the
tests draw with these same builders.

Inputs are the dicts that compute's results write: what the cache holds is exactly what is drawn.
One module per family of figures: the look shared by all in `style`, lines and trajectories in
`line`, surfaces in `surface`, the control experiments in `controls`, curvature in `curvature`;
`export` writes any of them to a file for print.
"""
