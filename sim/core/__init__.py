"""The ground floor: what every other floor stands on, and which imports nothing of deploysim's.

- `errors`: the one error type for a user's bad input (`ConfigError`), naming file, key path and line.
- `schema`: frozen, self-validating config records and the builder that fills them from plain data.
- `dist`: the random distributions a scenario names.
- `rng`: the random streams — one root seed, a child per deploy, named sub-streams within it.
- `sampling`: numpy draws at the tiny sizes the model makes them.
- `version`: the package's version, in one place.
"""
