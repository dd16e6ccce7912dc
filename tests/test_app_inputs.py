"""Hostile input in the app: every upload and typed value ends in one `st.error` line, never a traceback,
never a result over garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sim.core import yamlsafe
from webapp import rollouts, settings

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DEFAULT = (ROOT / "scenarios" / "default.yaml").read_text(encoding="utf-8")
MANIFEST = (ROOT / "tests" / "data" / "manifests" / "argo-basic-canary.yaml").read_text(encoding="utf-8")
ERROR_RATE_SEVERITY = "severity: {kind: loguniform, low: 0.005, high: 0.1}"


def laughs(levels: int = 9) -> str:
    """A YAML "billion laughs": a few hundred bytes that expand to 10⁹ nodes."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def scenario_with(old: str, new: str) -> bytes:
    assert old in DEFAULT  # the mutation must change the file, or the test proves nothing
    return DEFAULT.replace(old, new, 1).encode()


def query_manifest(query: str) -> bytes:
    old = 'sum(rate(http_requests_total{app="checkout",status=~"5.."}[2m])) /'
    new_lines = MANIFEST.replace(old, query, 1)
    assert new_lines != MANIFEST
    return new_lines.replace(
        '          sum(rate(http_requests_total{app="checkout"}[2m])) * 100\n', "", 1
    ).encode()


def job_manifest(arithmetic: str) -> bytes:
    """The manifest with its Job's shell arithmetic replaced (what the importer's evaluator reads)."""
    old = "N=$(( RANDOM % 4 ))"
    assert old in MANIFEST
    return MANIFEST.replace(old, f"N=$(( ({arithmetic}) % 4 ))", 1).encode()


def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["k.run.deploys"] = 12
    return at.run()


def refused_once(at: AppTest, *words: str) -> str:
    """Exactly one error, one line, naming the problem; no exception, no result, no Run."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    (text,) = errors
    assert "\n" not in text.strip() and "Traceback" not in text, text
    for word in words:
        assert word in text, (word, text)
    assert not at.dataframe and not at.table and not at.success
    assert not [b for b in at.button if b.key == "run"]
    return text


def upload_scenario(name: str, data: bytes) -> AppTest:
    at = page()
    at.radio(key=settings.SOURCE_KEY).set_value(settings.UPLOADED).run()
    at.file_uploader(key=settings.UPLOAD_KEY).set_value((name, data, "application/x-yaml")).run()
    return at


def upload_manifest(name: str, data: bytes) -> AppTest:
    at = page()
    at.file_uploader(key=rollouts.UPLOAD_KEY).set_value([(name, data, "application/x-yaml")]).run()
    return at


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (laughs().encode(), ["bomb.yaml", "aliases expanded"]),
        (
            scenario_with(ERROR_RATE_SEVERITY, "severity: .nan"),
            ["bomb.yaml", "releases.faults.error_rate.severity"],
        ),
        (
            scenario_with(ERROR_RATE_SEVERITY, "severity: {kind: loguniform, low: 0.005, high: .inf}"),
            ["bomb.yaml", "releases.faults.error_rate.severity", "high"],
        ),
        (scenario_with("fleet:\n", "fleet:\n  replicas: 3\n"), ["bomb.yaml", "duplicate key 'replicas'"]),
        (b"\0" * (yamlsafe.MAX_BYTES + 1), ["bomb.yaml", "too large"]),
        (b"\xff\xfe" * 100, ["bomb.yaml", "UTF-8"]),
        (b"[" * 10_000, ["bomb.yaml"]),
        (b"- 1\n---\n- 2\n", ["bomb.yaml", "more than one YAML document"]),
    ],
    ids=[
        "alias-bomb",
        "nan-severity",
        "inf-in-distribution",
        "duplicate-key",
        "over-4MiB",
        "utf16",
        "deep",
        "two-docs",
    ],
)
def test_a_hostile_scenario_upload_is_one_error_line(data, words):
    refused_once(upload_scenario("bomb.yaml", data), *words)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (laughs().encode(), ["bomb.yaml", "aliases expanded"]),
        (
            MANIFEST.replace("maxSurge: 1", "maxSurge: 1\n      maxSurge: 2", 1).encode(),
            ["bomb.yaml", "duplicate key"],
        ),
        (query_manifest("1" + " + 1" * 10_000), ["bomb.yaml", "limit"]),
        (job_manifest("+".join(["RANDOM"] * 10_001)), ["bomb.yaml", "over the limit"]),
        (job_manifest("+".join(["RANDOM"] * 301)), ["bomb.yaml", "301 operators is over the limit"]),
        (query_manifest("(" * 5_000 + "1" + ")" * 5_000), ["bomb.yaml", "limit"]),
        (b"\0" * (yamlsafe.MAX_BYTES + 1), ["too large"]),
    ],
    ids=[
        "alias-bomb",
        "duplicate-key",
        "10k-operators-query",
        "10k-operators-job",
        "300-operators-job",
        "deep-brackets",
        "over-4MiB",
    ],
)
def test_a_hostile_manifest_upload_is_one_error_line(data, words):
    refused_once(upload_manifest("bomb.yaml", data), *words)


@pytest.mark.parametrize(
    ("kind", "key", "value", "words"),
    [
        ("number_input", "k.fleet.replicas", 10**12, ["fleet.replicas"]),
        ("number_input", "k.releases.bad_probability", 2.0, ["releases.bad_probability"]),
        # Streamlit itself turns a NaN or an infinity into 0 before the page sees it; 0 is refused here.
        ("number_input", "k.traffic.rate_rps", float("inf"), ["traffic.rate_rps"]),
        ("text_input", "k.strategies.canary.steps", "1e999:600", ["strategies.canary.steps"]),
        ("text_input", "k.strategies.canary.steps", "1:" + "9" * 5000, ["strategies.canary.steps"]),
        ("text_input", "k.strategies.canary.steps", "nan:600", ["strategies.canary.steps"]),
    ],
)
def test_a_hostile_knob_value_is_one_error_line(kind, key, value, words):
    at = page()
    getattr(at, kind)(key=key).set_value(value).run()
    refused_once(at, *words)
