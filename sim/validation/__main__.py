"""`python -m sim.validation` runs the validation report."""

import sys

from .runner import main

sys.exit(main())
