"""The validation report: every check passes on its fast subset, fails when the model is broken, and the
command writes its table, Markdown and CSV with the right exit code."""

from __future__ import annotations

import csv
import inspect
import math

import numpy as np
import pytest

import sim.engine.alert
import sim.engine.exogenous
import sim.engine.world
from sim import cli
from sim.engine import routing
from sim.validation import checks_alerting, checks_judges, checks_rollout, runner
from sim.validation.record import FIELDS, Record

CASES = runner.cases()
# The family level of the whole report (Bonferroni over its statistical checks), as `make validate`.
LEVEL = runner.family_level(runner.statistical_count(CASES))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.function.__name__}{sorted(c.kwargs.items())}")
def test_check_passes_on_its_fast_subset(case):
    # The quick tier that blocks a landing: every check of `make validate`, on small samples with
    # fixed seeds, at the report's family level (family-wise false failures ≤ 5%). Its power is
    # shown by the mutation tests below, run at the same sizes and level.
    record = case.run(fast=True, level=LEVEL)
    assert isinstance(record, Record)
    assert record.passed, (
        f"{record.check}: reference {record.reference}, simulated {record.simulated} "
        f"[{record.ci_lo}, {record.ci_hi}]; {record.tolerance}; {record.note}"
    )
    assert record.n > 0 and record.source and record.tolerance
    if case.statistical:
        assert record.level == LEVEL
        assert record.ci_lo <= record.simulated <= record.ci_hi


def test_every_check_kind_is_in_the_report():
    names = {c.function.__name__ for c in CASES}
    assert names == {
        "check_burn_rate_detection", "check_burn_rate_budget", "check_canary_power", "check_repeated_looks",
        "check_sequential_looks", "check_sequential_latency_looks",
        "check_shipped_policy_looks", "check_mann_whitney", "check_kayenta_scorer", "check_flagger_promotion",
        "check_flagger_rollback",
        "check_exposure", "check_argo_test_table", "check_argo_grid",
        "check_argo_analysis_limits", "check_dynamic_stable_scale",
        "check_header_route", "check_session_affinity", "check_mirror_route", "check_experiment_step",
        "check_flagger_webhooks", "check_load_test",
        "check_argo_simulated_weights", "check_change_failure_rate",
        "check_blast_radius", "check_time_to_repair", "check_no_human", "check_blue_green_cost",
    }  # fmt: skip


# ---- each check can fail: break the model and watch it catch the break ----


def test_argo_checks_catch_a_naive_rounding(monkeypatch):
    def nearest(spec, weight, surge):
        canary = round(spec * weight / 100)
        return canary, spec - canary

    monkeypatch.setattr(routing, "argo_replica_split", nearest)
    assert not checks_rollout.check_argo_test_table().passed
    assert not checks_rollout.check_argo_grid(max_replicas=5).passed
    assert not checks_rollout.check_argo_simulated_weights(max_replicas=2, weights=(1, 5)).passed


@pytest.mark.parametrize("measure", ["traffic", "users"])
def test_session_affinity_checks_catch_a_cookie_that_ignores_who_sends_the_requests(monkeypatch, measure):
    # The cookie's spread as if every user sent alike (shape → ∞: exp(−X)), at the quick tier's size
    # and the family level: the replayed users (activity shape 0.5) disagree with it.
    size = {c.kwargs["measure"]: c.fast["deploys"] for c in CASES
            if c.function is checks_rollout.check_session_affinity}[measure]  # fmt: skip
    real = routing.cookie_shares
    monkeypatch.setattr(routing, "cookie_shares", lambda w, x, k: real(w, x, 1e9))
    routing.clear_caches()
    try:
        assert not checks_rollout.check_session_affinity(measure, deploys=size, level=LEVEL).passed
    finally:
        routing.clear_caches()


def test_load_test_check_catches_a_rate_off_by_five_percent(monkeypatch):
    size = next(c.fast["deploys"] for c in CASES if c.function is checks_rollout.check_load_test)
    assert checks_rollout.check_load_test(deploys=size, level=LEVEL).passed
    real = sim.engine.world.World.set_load_test
    monkeypatch.setattr(sim.engine.world.World, "set_load_test", lambda self, rps: real(self, rps * 1.05))
    assert not checks_rollout.check_load_test(deploys=size, level=LEVEL).passed


def test_mann_whitney_check_catches_the_uncorrected_interval(monkeypatch):
    from scipy.special import ndtri

    def uncorrected(experiment, control, confidence, tolerance, allowed_ratio):
        x, y = np.asarray(experiment, float), np.asarray(control, float)
        m, n = len(x), len(y)
        d = np.sort(np.subtract.outer(x, y).ravel())
        z = float(ndtri(1 - (1 - confidence) / 2))
        k = min(max(math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12)), 0), (m * n - 1) // 2)
        est, lower = float(np.median(d)), d[k]
        ratio = x.mean() / y.mean()
        label = "high" if lower > tolerance * abs(est) and ratio >= allowed_ratio else "pass"
        return type("R", (), {"classification": label})()

    monkeypatch.setattr(checks_judges, "mann_whitney_classify", uncorrected)
    assert not checks_judges.check_mann_whitney(count=10, level=LEVEL).passed


def test_burn_rate_check_catches_a_wrong_threshold(monkeypatch):
    checks_alerting._burn_runs.cache_clear()

    def halved(real):  # an alert that pages at half the Workbook's burn rates
        def alert(judge, *args):
            windows = tuple(type(w)(w.long_s, w.short_s, w.burn_rate / 2) for w in judge.windows)
            wrong = type(judge)(slo=judge.slo, windows=windows, eval_interval_s=judge.eval_interval_s)
            return real(wrong, *args)

        return alert

    # The arrays' alert asks for the first firing, the event engine's for every firing (`alert.Scanned`).
    for name in ("first_firing", "firings"):
        monkeypatch.setattr(sim.engine.alert, name, halved(getattr(sim.engine.alert, name)))
    try:
        assert not checks_alerting.check_burn_rate_detection(0.05, deploys=4, level=LEVEL).passed
    finally:
        checks_alerting._burn_runs.cache_clear()


def test_exposure_check_catches_a_wrong_share(monkeypatch):
    # Route 1.5× the asked weight: faulty requests no longer follow w·λ·t.
    real = sim.engine.world.World.set_weight
    monkeypatch.setattr(sim.engine.world.World, "set_weight", lambda self, w: real(self, min(1.0, 1.5 * w)))
    assert not checks_rollout.check_exposure(5, deploys=10, level=LEVEL).passed


@pytest.mark.parametrize("weight", [1, 5, 25, 50])
def test_the_corrected_exposure_checks_still_catch_a_5_percent_routing_error(monkeypatch, weight):
    # The Bonferroni correction widens each interval (z 3.30 instead of 1.96); it must not make the
    # checks unable to fail. A router sending 5% more than the asked weight (5% at 1% is 1.05%) is
    # caught at the quick tier's size; the report's 200 deploys are three times as sharp.
    size = {c.kwargs["weight"]: c.fast["deploys"] for c in CASES
            if c.function is checks_rollout.check_exposure and "mode" not in c.kwargs}[weight]  # fmt: skip
    assert checks_rollout.check_exposure(weight, deploys=size, level=LEVEL).passed
    real = sim.engine.world.World.set_weight
    monkeypatch.setattr(sim.engine.world.World, "set_weight", lambda self, w: real(self, min(1.0, 1.05 * w)))
    assert not checks_rollout.check_exposure(weight, deploys=size, level=LEVEL).passed


def test_change_failure_rate_check_catches_a_smoke_test_that_catches_half_as_often(monkeypatch):
    size = next(c.fast["deploys"] for c in CASES if c.function is checks_rollout.check_change_failure_rate)
    assert checks_rollout.check_change_failure_rate(deploys=size, level=LEVEL).passed
    half = property(lambda self: self.bad and self.smoke_u < self.smoke_catch / 2)
    monkeypatch.setattr(sim.engine.exogenous.Release, "caught_by_smoke_test", half)
    assert not checks_rollout.check_change_failure_rate(deploys=size, level=LEVEL).passed


# ---- the command ----


def _fake(passed: bool):
    def check() -> Record:
        return Record("fake.check", "a claim", 1.0, "a source", 1.0 if passed else 2.0, 0.9, 2.1, "s",
                      passed, "how", 3, "a note")  # fmt: skip

    return check


def test_command_writes_markdown_and_csv(tmp_path, capsys):
    out = tmp_path / "validation"
    code = cli.main(["validate-model", "--only", "argo_test_table", "--only", "argo_grid", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "PASS  argo.replica_split[Argo's test table]" in printed and "2 of 2 checks pass" in printed
    rows = list(csv.DictReader((out / "validation.csv").open(encoding="utf-8")))
    assert [r["check"] for r in rows] == [
        "argo.replica_split[Argo's test table]",
        "argo.replica_split[1-20 replicas × weights 1-99 × maxSurge 0/1]",
    ]
    assert tuple(rows[0]) == FIELDS and rows[0]["passed"] == "True" and "canary_test.go" in rows[0]["source"]
    md = (out / "validation.md").read_text(encoding="utf-8")
    assert "| PASS | argo.replica_split[Argo's test table] |" in md and "**Tolerance**" in md
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_command_exits_1_when_a_check_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "cases", lambda: [runner.Case(_fake(True)), runner.Case(_fake(False))])
    assert runner.main(["--out", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL  fake.check" in printed and "1 of 2 checks pass, 1 FAIL" in printed
    assert (tmp_path / "validation.csv").read_text(encoding="utf-8").count("fake.check") == 2


def test_command_reports_bad_arguments_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["validate-model", "--only", "argo_test_table", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("deploysim: cannot write") and "Traceback" not in err
    assert cli.main(["validate-model", "--only", "no_such_check"]) == 2
    assert "no check matches" in capsys.readouterr().err


def test_statistical_checks_run_at_the_bonferroni_level_of_the_checks_run_together():
    m = runner.statistical_count(CASES)
    assert m >= 50 and pytest.approx(1 - 0.05 / m) == LEVEL
    case = runner.Case(checks_rollout.check_exposure, {"weight": 50}, {"deploys": 5})
    assert case.statistical and case.run(fast=True).level == LEVEL
    exact = runner.Case(checks_rollout.check_argo_test_table)
    assert not exact.statistical and exact.run().level == 0.95  # shown only; the verdict is exact
    three = [case, case, exact]
    assert [r.level for r in runner.run_all(three, fast=True)] == [1 - 0.05 / 2, 1 - 0.05 / 2, 0.95]
    for c in CASES:
        if c.statistical:  # called on their own (notebooks, tests), checks keep the textbook 95%
            assert inspect.signature(c.function).parameters["level"].default == 0.95


def test_the_report_states_the_correction_and_its_level(tmp_path, capsys):
    assert runner.main(["--only", "check_exposure", "--only", "argo_test_table", "--fast",
                        "--out", str(tmp_path)]) == 0  # fmt: skip
    line = (
        "family-wise error rate ≤ 5%: Bonferroni over the 5 statistical checks, "
        "each interval at 1 − 0.05/5 = 99%"
    )
    assert line in capsys.readouterr().out
    md = (tmp_path / "validation.md").read_text(encoding="utf-8")
    assert f"**Multiple checks**: {line}." in md and "simulated [95%/99% CI]" in md
    rows = list(csv.DictReader((tmp_path / "validation.csv").open(encoding="utf-8")))
    assert {r["level"] for r in rows if r["check"].startswith("exposure")} == {"0.99"}
