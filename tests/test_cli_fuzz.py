"""The CLI's entry points meet generated files and arguments: `deploysim validate`, `run` and `import`
may only succeed (0) or refuse in one line (2; `validate` says "invalid" with 1), never a traceback."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.core import yamlsafe
from tests.test_loader_fuzz import NASTY as LOADER_NASTY

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
#: The shipped test manifests and, where the shared examples sit beside the checkout, those too.
MANIFEST_FILES = sorted((ROOT / "tests" / "data" / "manifests").glob("*.yaml")) + sorted(
    (ROOT.parent / "shared" / "examples").glob("**/*.y*ml")
)
MANIFESTS = [p.read_text(encoding="utf-8") for p in MANIFEST_FILES]
CANARY = (ROOT / "tests" / "data" / "manifests" / "argo-basic-canary.yaml").read_text(encoding="utf-8")
ROUTER = (ROOT / "tests" / "data" / "manifests" / "argo-router-canary.yaml").read_text(encoding="utf-8")
FLAGGER = (ROOT / "tests" / "data" / "manifests" / "flagger-promotion.yaml").read_text(encoding="utf-8")
QUERY = (
    'sum(rate(http_requests_total{app="checkout",status=~"5.."}[2m])) /\n'
    '          sum(rate(http_requests_total{app="checkout"}[2m])) * 100'
)
JOB = "N=$(( RANDOM % 4 )) && exit $N"

#: Values a careless edit (or an attacker) might put anywhere in a file or after `--set key=`: the
#: loader fuzz's, plus bytes only a file on disk can carry.
NASTY = [*LOADER_NASTY, "'\\x00'", "\udcff"]

#: Generous for a loaded two-core machine: a valid `run` of 3 deploys takes about a second.
FUZZ = settings(
    max_examples=150,
    deadline=10_000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated(draw: st.DrawFn, texts: list[str]) -> str:
    """A shipped file with a few lines changed the way careless edits and hostile ones change them."""
    lines = draw(st.sampled_from(texts)).splitlines() or [""]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "indent", "char", "key"]))
        line = lines[i]
        if op == "value" and ":" in line:
            lines[i] = f"{line.split(':', 1)[0]}: {draw(st.sampled_from(NASTY))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 8)) + line.lstrip()
        elif op == "char" and line:
            j = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + draw(st.sampled_from(list(":-[]{}#&*!|>'\"%@` \t0"))) + line[j + 1 :]
        elif op == "key" and ":" in line:
            lines[i] = draw(st.text("abcxyz_", min_size=1, max_size=8)) + ":" + line.split(":", 1)[1]
        lines = lines or [""]
    return "\n".join(lines) + "\n"


def deep(levels: int, opener: str) -> str:
    closer = {"[": "]", "{": "}"}[opener]
    inner = "1" if opener == "[" else "a: 1"
    if opener == "{":
        return "a: " + "{a: " * levels + "1" + "}" * levels + "\n"
    return opener * levels + inner + closer * levels + "\n"


def laughs(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def _bytes(text: str) -> bytes:
    # A lone surrogate (from NASTY or random text) becomes bytes that are not UTF-8: input too.
    return text.encode("utf-8", "surrogatepass")


def hostile(texts: list[str]) -> st.SearchStrategy[bytes]:
    """File contents: mutated shipped files, random text and bytes, deep nesting, aliases."""
    return st.one_of(
        mutated(texts).map(_bytes),
        mutated(texts).map(_bytes),
        st.text(max_size=300).map(_bytes),
        st.binary(max_size=300),
        st.builds(deep, st.integers(1, 400), st.sampled_from("[{")).map(str.encode),
        st.builds(laughs, st.integers(1, 12), st.integers(1, 9)).map(str.encode),
        st.sampled_from(
            [b"", b"\xef\xbb\xbf", b"---\n---\n", b"\0" * (yamlsafe.MAX_BYTES + 1), b"a: &x 1\nb: &x 2\n"]
        ),
    )


def count(low: int, high: int) -> st.SearchStrategy[str]:
    """A number option's text: mostly a sensible value, sometimes one that must be refused."""
    return st.one_of(
        st.integers(low, high).map(str),
        st.sampled_from(["0", "-1", "x", "", "1.5", "nan", "inf", "1e999", "99999999999999999999", "٣"]),
    )


sets = st.lists(
    st.builds(
        "{}={}".format,
        st.sampled_from(
            [
                "fleet.replicas",
                "traffic.rate_rps",
                "releases.bad_probability",
                "run.deploys",
                "strategies",
                "releases.faults.error_rate.severity",
                "judges",
                "name",
                "",
                "a..b",
                "fleet.replicas.x",
                "x[0]",
            ]
        ),
        st.one_of(st.sampled_from(NASTY), st.text(max_size=20)),
    ),
    max_size=2,
)


def outcome(capsys: pytest.CaptureFixture[str], args: list[str], refusals: tuple[int, ...] = (2,)) -> None:
    """0, or a refusal (2) with one line; nothing else, and never a traceback."""
    code = main(args)
    _, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, (args, err)
    if code == 0:
        return
    assert code in refusals, (code, args, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), (args, err)


def _in_scratch(data: bytes) -> tuple[Path, Path]:
    # A folder per example: pytest's tmp_path is one for all of a test's examples.
    folder = Path(tempfile.mkdtemp(prefix="cli-fuzz-"))
    path = folder / "input.yaml"
    path.write_bytes(data)
    return folder, path


@FUZZ
@given(data=hostile(SCENARIOS))
def test_validate_refuses_in_one_line(capsys, data):
    folder, path = _in_scratch(data)
    try:
        # `validate` says an invalid scenario with 1 (README, exit codes), unreadable input with 2.
        outcome(capsys, ["validate", str(path)], refusals=(1, 2))
    finally:
        shutil.rmtree(folder)


@settings(FUZZ, max_examples=60)  # each valid run simulates, about a second
@given(data=hostile(SCENARIOS), deploys=count(1, 3), seed=count(0, 2**31), jobs=count(1, 1), overrides=sets)
def test_run_refuses_in_one_line(capsys, data, deploys, seed, jobs, overrides):
    folder, path = _in_scratch(data)
    args = ["run", str(path), "--deploys", deploys, "--seed", seed, "--jobs", jobs, "--quiet"]
    args += ["--out", str(folder / "out")]
    for item in overrides:
        args += ["--set", item]
    try:
        outcome(capsys, args)
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(data=hostile(MANIFESTS))
# Found by this test: `metadata:` as a list or a number was an AttributeError (internal error, exit 70).
@example(data=CANARY.replace("metadata:\n  name: checkout", "metadata:\n- name: checkout", 1).encode())
@example(data=CANARY.replace("metadata:\n  name: checkout", "metadata: 5", 1).encode())
# Steps, hooks and ranges that are not mappings were AttributeErrors and TypeErrors too.
@example(data=CANARY.replace("- pause: {duration: 2m}", "- pause: -1", 1).encode())
@example(data=CANARY.replace("- setWeight: 10", "- experiment: [1]", 1).encode())
@example(data=FLAGGER.replace("type: confirm-promotion", "type: [1]", 1).encode())
@example(data=FLAGGER.replace("- name: approve", "- 5", 1).encode())
@example(data=FLAGGER.replace("thresholdRange: {min: 99.5}", "thresholdRange: 99.5", 1).encode())
@example(data=CANARY.replace("failureCondition: result[0] > 2", "failureCondition: -1", 1).encode())
@example(data=CANARY.replace("  - name: error-ratio", "  - name: {a: 1}", 1).encode())
@example(data=FLAGGER.replace("- name: request-success-rate", "- name: [1]", 1).encode())
@example(data=FLAGGER.replace("templateRef: {name: error-percentage}", "templateRef: -1", 1).encode())
@example(data=ROUTER.replace("maxTrafficWeight: 1000", "maxTrafficWeight: 0", 1).encode())  # ÷ 0
def test_import_refuses_in_one_line(capsys, data):
    folder, path = _in_scratch(data)
    try:
        outcome(capsys, ["import", str(path)])
    finally:
        shutil.rmtree(folder)


atoms = st.sampled_from(
    ["1", "0", "4", "RANDOM", "$RANDOM", "N", "99999999999999999999", "-1", "x", "$((1))"]
)
operators = st.sampled_from(
    [
        "+",
        "-",
        "*",
        "/",
        "%",
        "**",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "?",
        ":",
        "=",
        "+=",
        ",",
        "!",
        "~",
    ]
)
arithmetic = st.one_of(
    st.lists(st.one_of(atoms, operators, st.sampled_from(["(", ")", " "])), max_size=60).map("".join),
    st.builds(lambda n, op: op.join(["1"] * n), st.integers(1, 400), operators),
    st.builds(lambda n: "(" * n + "1" + ")" * n, st.integers(1, 200)),
    st.text(max_size=40),
)
promql = st.one_of(
    st.lists(
        st.sampled_from(
            [
                "sum(",
                "rate(",
                "http_requests_total",
                '{status=~"5.."}',
                "[2m]",
                ")",
                " / ",
                " * ",
                "100",
                "histogram_quantile(0.99, ",
                "by (le)",
                "1e999",
                "NaN",
                "-",
                "(",
                " > ",
                ",",
            ]
        ),
        max_size=40,
    ).map("".join),
    st.builds(lambda n, op: op.join(["x"] * n), st.integers(1, 400), st.sampled_from([" + ", " / ", "*"])),
    st.text(max_size=60),
)


@FUZZ
@given(query=promql, job=arithmetic)
def test_import_of_generated_queries_refuses_in_one_line(capsys, query, job):
    text = CANARY.replace(QUERY, query.replace("\n", " ") or "x", 1)
    text = text.replace(JOB, f"N=$(( {job} )) && exit $N".replace('"', "'"), 1)
    folder, path = _in_scratch(_bytes(text))
    try:
        outcome(capsys, ["import", str(path)])
    finally:
        shutil.rmtree(folder)
