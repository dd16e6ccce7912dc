"""The runs floor: batches of deploys on worker processes or a cluster, and the folders they fill —
the only floor that touches disk and processes.

- `batch`: `run_batch`, chunks of deploys in this process, a local process pool or a Dask cluster.
- `cluster`: a Dask cluster's side: what every worker must run to take a chunk (the client's
  deploysim, model hash and numeric libraries) and how many threads the cluster has now.
- `workers`: the local pool's processes, which preload only the engine and die with their parent.
- `folder`: what both kinds of result folder share — claiming and locking one, and the manifest's
  one writer, reader and format number.
- `store`: result folders, rows streamed to disk chunk by chunk, then tables, charts and a manifest
  that says whether the run is complete (`--resume` finishes one cut short).
- `sweep`: every combination of a parameter grid, a tidy table and a Pareto chart.
"""
