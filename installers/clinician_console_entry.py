"""Entry script of the frozen console (installers/clinician-console.spec).

The bundle's executable runs exactly what ``clinician-console`` runs from a
virtual environment: the GUI by default, headless commands otherwise.
"""

from __future__ import annotations

import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":
    # A frozen program that starts worker processes must call this first.
    multiprocessing.freeze_support()
    sys.exit(main())
