"""Your own rollout beside the scenario's strategies: Argo Rollouts or Flagger manifests, uploaded and
imported by `sim.importer` (what `deploysim run --rollout` does)."""

from __future__ import annotations

import hashlib

import streamlit as st

import sim
from sim import ConfigError, importer

from . import uploads

UPLOAD_KEY = "src.rollouts"
KEPT = "_rollouts"  # (name, bytes) of the manifests, kept across pages (the uploader forgets them)
MAX_BYTES = 1_000_000

Files = uploads.Files


def add(scn: sim.Scenario, files: Files) -> tuple[sim.Scenario, list[str]]:
    """The scenario with the manifests' strategies added; warnings and errors name the uploaded files."""
    if sum(len(data) for _, data in files) > MAX_BYTES:
        raise ConfigError("the manifests are too large (over 1 MB together)", source="rollout upload")
    with uploads.on_disk(files, "manifest.yaml") as (paths, own):
        try:
            out, warnings = importer.add_rollouts(scn, paths)
        except ConfigError as err:  # its message names the temporary file: name the upload instead
            raise ConfigError(own(str(err))) from None
        return out, [own(str(w)) for w in warnings]


def _forget() -> None:
    st.session_state.pop(KEPT, None)


def section(scn: sim.Scenario) -> tuple[sim.Scenario, str]:
    """Draw the uploader; the scenario with any uploaded rollouts, and a digest of them (for the
    settings to know the scenario changed)."""
    with st.expander("Add your rollout (Argo Rollouts, Flagger)"):
        files = st.file_uploader(
            "Rollout or Canary manifests, with their analysis templates",
            type=["yaml", "yml"],
            accept_multiple_files=True,
            key=UPLOAD_KEY,
            max_upload_size=MAX_BYTES // 1_000_000,
        )
        if files:
            st.session_state[KEPT] = [(f.name, f.getvalue()) for f in files]
        kept: Files = st.session_state.get(KEPT) or []
        if not kept:
            st.caption("Simulated beside the scenario's strategies, as `deploysim run --rollout` does.")
            return scn, ""
        if not files:
            st.caption(f"Using {', '.join(n for n, _ in kept)}, uploaded earlier.")
            st.button("Remove them", key="rollouts.remove", on_click=_forget)
        out, warnings = add(scn, kept)
        added = [s for s in out.strategies if s not in scn.strategies]
        st.caption(f"Imported: {', '.join(added)}.")
        for w in warnings:
            st.caption(f"⚠ {w}")
    digest = hashlib.sha256(b"".join(name.encode() + data for name, data in kept)).hexdigest()
    return out, digest
