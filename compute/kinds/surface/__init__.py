"""Cost surfaces with the SGD trajectory on them (appendices C and D, Figs 15-22): the job kind
"surface". query.py (the query and its work estimate), paper.py, plane.py (the kinds of surface),
grid.py (the grid points every chunk evaluates), result.py, kind.py (chunking and assembly).

Axes, for every kind: alpha in units of D = ||theta_f - theta_i|| (0 at theta_i, 1 at theta_f, as
on the line), beta (b) in parameter-space distance (as beta(t) of `landscape trajectory`),
except `random-plane`, whose two coordinates multiply directions of a stated norm.

paper (Figs 15-20) is NOT a 2-D plane. With u = (theta_f - theta_i)/D, each recorded step t has
alpha(t) = (theta(t) - theta_i)^T u / D, the residual r(t) = theta(t) - theta_i - alpha(t)(theta_f - theta_i),
beta(t) = ||r(t)|| and the unit direction v(t) = r(t)/beta(t). Row t is the line
    theta_i + alpha(t)(theta_f - theta_i) + beta v(t)
sampled at beta values; the rows, drawn side by side as if parallel, form the surface.
  * Exactness (the grid choice): every row is evaluated at the shared uniform beta grid PLUS one
    "path point" at its own beta(t), in the same Evaluator call with the same basis. The path point
    of a recorded row is theta(t) itself (up to float rounding of the basis), so the trajectory
    (alpha(t), beta(t), J(theta(t))) is a vertex of the surface, not a point interpolated between
    grid columns. `SurfaceResult.mesh()` merges path points into their rows for drawing.
  * Rows: N rows are the recorded steps with alpha(t) in the alpha range (all by default). When N is
    larger, the extra rows go between consecutive checkpoints, in proportion to the distance moved
    (row theta_s = (1-s) theta(t_k) + s theta(t_k+1): its residual is (1-s) r_k + s r_k+1, its path
    point the chord point); when smaller, N recorded steps are taken evenly (theta_f kept).
  * Where r = 0 (theta_i, theta_f) v is undefined: the row borrows v of the nearest step with r != 0.
    "r = 0" is ||r|| <= ON_LINE x D, the same for every run: theta_f's residual is rounding noise,
    and a direction built from it is +-u (the row would draw the line continued past theta_f).
  * The beta = 0 column is the line theta_i -> theta_f at each row's alpha (same coefficients).
  * A row costs 3 first-layer products (basis theta_i, theta_f, v), not one per beta.

random-plane (Fig. 21): theta_f + a d1 + b d2 with seeded Gaussian d1, d2 scaled to norm `scale`
(default D), or with Li et al. (2018) filter normalisation: each filter (row of a weight) of d
rescaled to `scale` (default 1) x the norm of the same filter of theta_f, biases zeroed. The
trajectory is projected on the plane by least squares; `residual` says how far it is from it.

alpha-random (Fig. 22): theta_i + alpha (theta_f - theta_i) + b r, r a seeded Gaussian direction
made orthogonal to u and of unit norm: a true 2-D plane; trajectory (alpha(t), r^T (theta(t) - theta_i)).

For the planes the trajectory's `cost` is the true J(theta(t)) and `plane_cost` the cost at its
projection on the plane. Every cost comes from `Evaluator.evaluate`, one call per row for every
kind, or per part of a row where a job cuts rows (see kind.py: the job kind
"surface" cuts the grid into chunks of whole rows or parts of rows).

    landscape surface RUN --kind paper --points 41x41 --splits train,valid
    landscape surface RUN --kind random-plane --normalization filter --seed 3 --alpha=-1:1 --beta=-1:1
"""
