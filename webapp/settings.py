"""The comparison's settings in the sidebar: a shipped or uploaded scenario, its knobs, the strategies;
every change validated by `sim.load_scenario`, the result downloadable as a scenario file."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

import sim
from sim import ConfigError

from . import calibrate, knobs, rollouts

SOURCE_KEY, NAME_KEY, UPLOAD_KEY = "src", "src.name", "src.upload"
SHIPPED, UPLOADED = "Shipped scenario", "Upload a YAML file"
#: Where an upload is kept once read: the uploader forgets its file when the page changes.
KEPT_UPLOAD = "_upload"
BASE_ID = "_base_id"
ROLLOUTS_ID = "_rollouts_id"
MAX_UPLOAD_BYTES = 1_000_000  # a scenario is a few kilobytes; anything this large is not one
PERSIST = "session"  # widgets keep their value across the app's pages


class NoUpload(Exception):
    """The user chose to upload a scenario and has not yet."""


@dataclass(frozen=True)
class Settings:
    """What Run would simulate: the validated scenario (strategies chosen), its deploys and seed."""

    scenario: sim.Scenario
    yaml: str
    deploys: int
    seed: int
    strategies: tuple[str, ...]
    changed: tuple[str, ...]  # knobs moved away from the file's values

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.yaml, self.seed, self.deploys)


def lesson(text: str) -> str:
    """The comment block a scenario file opens with (its lesson), as plain text."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return "\n".join(lines).strip()


def load_upload(name: str, data: bytes) -> sim.Scenario:
    """An uploaded file as a scenario; errors name the file as the user called it, with its line."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError(f"{len(data):,} bytes is too large for a scenario file", source=name)
    safe = Path(name).name or "upload.yaml"
    if not safe.endswith((".yaml", ".yml")):
        safe += ".yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        try:
            return sim.load_scenario(path)
        except ConfigError as err:
            raise err.located(name) from None


def _source(calibrated: calibrate.Use | None) -> tuple[str, sim.Scenario]:
    """(file text, scenario) of the base scenario, or a ConfigError for a bad upload."""
    if calibrated is not None:
        st.markdown(
            f"Scenario: **{calibrated.scenario.name}**, fitted from your metrics ({calibrated.files})."
        )
        st.caption(
            f"Turn off “Compare strategies on the calibrated scenario” under “{calibrate.TITLE}” for another."
        )
        return calibrated.text, calibrated.scenario
    st.radio("Scenario", (SHIPPED, UPLOADED), key=SOURCE_KEY, horizontal=True, persist_state=PERSIST)
    if st.session_state[SOURCE_KEY] == SHIPPED:
        names = sim.shipped_scenarios()
        if st.session_state.get(NAME_KEY) not in names:
            st.session_state[NAME_KEY] = "default"
        name = st.selectbox("Shipped scenario", names, key=NAME_KEY, persist_state=PERSIST)
        text = sim.resolve_path(name).read_text(encoding="utf-8")
        return text, sim.load_scenario(name)
    upload = st.file_uploader(
        "Scenario file", type=["yaml", "yml"], key=UPLOAD_KEY, max_upload_size=MAX_UPLOAD_BYTES // 1_000_000
    )
    if upload is not None:
        data = upload.getvalue()
        st.session_state[KEPT_UPLOAD] = (upload.name, data)
    kept = st.session_state.get(KEPT_UPLOAD)
    if kept is None:
        raise NoUpload()
    name, data = kept
    if upload is None:
        st.caption(f"Using {name}, uploaded earlier.")
    scn = load_upload(name, data)
    return data.decode("utf-8", errors="replace"), scn


def _reset(
    data: dict[str, Any], offered: list[knobs.Knob], strategies: list[str], keep: bool = False
) -> None:
    """Every knob to the scenario's value (keep: only those without a value yet)."""
    for knob in offered:
        if not (keep and knob.key in st.session_state):
            st.session_state[knob.key] = knobs.read(knob, data)
    if not (keep and knobs.STRATEGIES_KEY in st.session_state):
        st.session_state[knobs.STRATEGIES_KEY] = list(strategies)


def _widget(knob: knobs.Knob) -> None:
    common: dict[str, Any] = {"key": knob.key, "help": knob.help or None, "persist_state": PERSIST}
    if knob.kind == "float":
        st.number_input(knob.label, step=knob.step, format="%g", **common)
    elif knob.kind == "int":
        st.number_input(knob.label, step=int(knob.step or 1), **common)
    elif knob.kind == "steps":
        a, b = knob.pair
        st.text_input(knob.label, placeholder=f"{a}:{b}, {a}:{b}, …", **common)
    elif knob.kind == "toggle":
        st.toggle(knob.label, **common)
    elif knob.kind == "choice":
        if st.session_state.get(knob.key) not in knob.options:
            st.session_state.pop(knob.key, None)
        st.selectbox(knob.label, knob.options, **common)
    else:
        st.multiselect(knob.label, knob.options, **common)


def sidebar(calibrated: calibrate.Use | None = None) -> Settings:
    """Draw the settings in the sidebar; the validated settings, or the ConfigError that stops them
    (NoUpload while an upload is awaited). `calibrated`: the scenario fitted to the user's metrics, run
    instead of a shipped or uploaded one."""
    with st.sidebar:
        text, base = _source(calibrated)
        own = list(base.strategies)
        base, manifests = rollouts.section(base)
        data = base.to_dict(compact=True)
        offered = knobs.knobs_for(data)
        base_id = hashlib.sha256(text.encode()).hexdigest()
        if st.session_state.get(BASE_ID) != base_id:
            # Another scenario: its own values in every knob. On the session's first scenario, a value
            # already set (a link's query, a test) stands.
            _reset(data, offered, list(base.strategies), keep=BASE_ID not in st.session_state)
            st.session_state[BASE_ID] = base_id
        elif st.session_state.get(ROLLOUTS_ID, "") != manifests:
            # Other manifests, same scenario: the knobs stay as set; the imported strategies join in.
            _reset(data, offered, [], keep=True)
            chosen = [s for s in st.session_state.get(knobs.STRATEGIES_KEY, []) if s in own]
            st.session_state[knobs.STRATEGIES_KEY] = chosen + [s for s in base.strategies if s not in own]
        st.session_state[ROLLOUTS_ID] = manifests
        if about := lesson(text):
            with st.expander("What this scenario shows"):
                st.text(about)
        st.multiselect(
            "Strategies to compare", list(base.strategies), key=knobs.STRATEGIES_KEY, persist_state=PERSIST
        )
        for group in knobs.GROUPS:
            members = [k for k in offered if k.group == group]
            if members:
                with st.expander(group, expanded=group == "Run"):
                    for knob in members:
                        _widget(knob)
        st.button(
            "Reset to the file's values",
            key="reset",
            on_click=_reset,
            args=(data, offered, list(base.strategies)),
            width="stretch",
        )
    values = {k.key: st.session_state.get(k.key) for k in offered}
    chosen = list(st.session_state.get(knobs.STRATEGIES_KEY) or [])
    if not chosen:
        raise ConfigError("pick at least one strategy to compare", ("strategies",))
    scn = sim.load_scenario(knobs.apply(data, offered, values)).only(chosen)
    return Settings(
        scn,
        scn.to_yaml(),
        scn.run.deploys,
        scn.run.seed,
        tuple(chosen),
        tuple(knobs.changed(data, offered, values)),
    )


def scenario_file(settings: Settings) -> str:
    """The settings as a scenario file `deploysim run` takes unchanged."""
    name = settings.scenario.name
    return (
        f"# {name}: saved from the deploysim app.\n"
        f"# Run it with: deploysim run {name}.yaml  (the app's rows, for the same deploys and seed)\n"
        + settings.yaml
    )


def download(settings: Settings) -> None:
    st.download_button(
        "Download scenario (YAML)",
        scenario_file(settings),
        file_name=f"{settings.scenario.name}.yaml",
        mime="application/x-yaml",
        key="download.yaml",
        on_click="ignore",
        width="stretch",
    )
