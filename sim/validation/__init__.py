"""Trust the numbers: checks of the model against published figures, formulas and controller rules.

`deploysim validate-model` (or `make validate`) runs every check, prints a table and writes
results/validation/validation.{md,csv}; it exits 1 if any check fails. Each check is a function
returning a `Record`; `runner.cases()` lists them with the small samples the test suite uses.
"""

from .record import Record
from .runner import cases, main, register, run_all, run_from_args

__all__ = ["Record", "cases", "main", "register", "run_all", "run_from_args"]
