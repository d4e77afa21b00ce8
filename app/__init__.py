"""Landscape's front end (Dash) and command line. Importing this package imports no Dash:
`landscape worker` runs from here without it.
"""
