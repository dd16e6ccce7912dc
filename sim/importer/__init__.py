"""Simulate the rollout you actually run: Argo Rollouts and Flagger manifests in, deploysim strategies out
(and back).

    imported = importer.import_manifests(["rollout.yaml", "templates.yaml"], scenario)
    imported.strategies, imported.judges, imported.warnings
    scn, warnings = importer.add_rollouts(scn, paths)          # beside the scenario's own strategies
    scn, warnings = importer.scenario_from_manifests(paths)    # a scenario of its own, default service
    text, warnings = importer.export_manifest(scn, "progressive", "argo")

Objects that do not shape a rollout (Service, VirtualService, Deployment, HPA, ...) are skipped;
fields that do but cannot be simulated exactly come back as warnings naming the field and the
assumption made. docs/importer.md lists what maps to what.

Modules: `manifests` (YAML as read, with lines), `queries` (PromQL shapes), `mapping` (judges and
shared context), `argo` + `argo_analysis` and `flagger` + `flagger_checks` (each controller's
reader), `load` (files in, strategies out), `k8s` (helpers both exporters share), `export_argo`,
`export_flagger` and `export` (strategies out, checked by reading them back), `cli` (the
`import` and `export` commands and `run --rollout`, which `deploysim` adds with `register`,
`add_run_options` and `with_rollouts`). The importer stands on the config floor only: it builds records,
it runs nothing.
"""

from .cli import add_run_options, register, with_rollouts
from .export import export_manifest
from .load import Imported, ManifestWarning, add_rollouts, import_manifests, scenario_from_manifests

__all__ = [
    "Imported",
    "ManifestWarning",
    "add_rollouts",
    "add_run_options",
    "export_manifest",
    "import_manifests",
    "register",
    "scenario_from_manifests",
    "with_rollouts",
]
