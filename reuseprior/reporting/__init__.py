"""Reporting (library layer): what turns computations into a reproducible
paper, for any chapter: notebook set-up with validated papermill parameters
(:mod:`.notebook`), the thesis's printed numbers and side-by-side tables
(:mod:`.reference`), the plot style (:mod:`.plotting`), executing the
notebooks (:mod:`.build`) and the static book (:mod:`.book`). It knows no
chapter by name."""
