"""The ground floor: what every other floor stands on; it imports nothing from the floors above.

- `errors`: the one error type for a user's bad input (`ConfigError`), naming file, key path and line.
- `files`: writing a file whole or not at all (replacing only regular files), for every floor that writes.
- `schema`: frozen, self-validating config records and the builder that fills them from plain data.
- `dist`: the random distributions a scenario names.
- `rng`: the random streams — one root seed, a child per deploy, named sub-streams within it.
- `sampling`: numpy draws at the tiny sizes the model makes them.
- `registry`: families of kinds (judges, strategies): each kind's config record and implementation.
- `two_proportion`: the z-test's power and the false alarms of repeated looks, in closed form.
- `sequential`: the always-valid test's evidence (a mixture likelihood ratio) over a canary's counts.
- `columns`: the per-deploy row's column table — names, kinds, units, meanings — from which the
  frame's dtypes, the Parquet schema, the CSV header and README's column table are made.
- `version`: the package's version, in one place.
"""
