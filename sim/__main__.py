"""`python -m sim` runs the deploysim command."""

import sys

from .cli import main

sys.exit(main())
