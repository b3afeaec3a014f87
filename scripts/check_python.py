"""Refuse a Python older than the lock needs, before a virtualenv is made.

``requirements-lock.txt`` pins packages (contourpy 1.3.3, numpy 2.4, ...)
that exist for Python 3.11 and later only; ``make env`` runs this first with
the Python it is about to use, and with ``--quiet`` to test an existing
virtualenv's interpreter.
"""

import sys

REQUIRED = (3, 11)

if sys.version_info[:2] < REQUIRED:
    if "--quiet" not in sys.argv:
        print(
            f"reuseprior needs Python {REQUIRED[0]}.{REQUIRED[1]} or later (the lock pins packages built for it); "
            f"{sys.executable} is {sys.version.split()[0]}. Install Python 3.11+ and run "
            f"'make env PYTHON=/path/to/python3.11'.",
            file=sys.stderr,
        )
    sys.exit(1)
