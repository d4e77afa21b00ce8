"""Cost surfaces with the SGD trajectory on them (appendices C and D): the job kind "surface"."""
