"""Landscape's engine: exact full-dataset cost along lines and surfaces in parameter space.

Importable without Dash. See DESIGN.md for the terms (theta, run, endpoint, line, surface).
"""

ENGINE_VERSION = "1"
