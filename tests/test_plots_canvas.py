"""Every figure `sim.plots` draws, drawn for real: no text or legend outside its canvas, no tick labels
on top of each other, no legend over data, and the replay's event labels apart.

The figures are those the CLI keeps, the app shows (its Compare tabs, the advisor's means, the replay
in both spans) and the workshop pages draw — each page's own chart at its own knob's default, read
from the page itself. The checker is tested first: it fails on the defects it is there to catch
(before this test, `time_to_restore.png` and workshop 3 cut their titles off and workshop 6 printed
its tick labels on top of each other).
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim
from sim.results import plots
from sim.runs import sweep
from tests.canvas import problems

ROOT = Path(__file__).resolve().parent.parent
SCN = sim.load_scenario("default")
LESSON_PAGES = sorted((ROOT / "webapp" / "pages").glob("lesson_*.py"))
WORKSHOP_DEPLOYS = 60

#: Replays worth drawing (default scenario, seed 2): a progressive rollout its analysis stops, a
#: good release promoted after an hour, a canary an operator stops, a blue-green cut-over whose
#: fault users report hours later, a recreate caught by the alert, and one nobody catches in the
#: week it is followed (recreate, deploy 76).
REPLAYS = [
    ("progressive", 1),
    ("progressive", 3),
    ("canary", 2),
    ("blue_green", 68),
    ("recreate", 11),
    ("recreate", 76),
]


# ---- the checker fails where it should ----


def test_the_checker_finds_a_title_cut_off_by_its_canvas():
    fig = Figure(figsize=(3.0, 2.0), layout="constrained")
    fig.subplots()
    fig.suptitle("A title far too long for a figure three inches wide, as charts had")
    assert any("leaves the canvas" in p for p in problems(fig))


def test_the_checker_finds_tick_labels_on_top_of_each_other():
    fig = Figure(figsize=(3.0, 2.0), layout="constrained")
    ax = fig.subplots()
    ax.set_xticks(range(6), [f"{k},000,000" for k in range(6)])
    assert any("overlap" in p for p in problems(fig))


def test_the_checker_finds_a_legend_over_the_data_and_texts_on_top_of_each_other():
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50), label="a line through the middle")
    ax.legend(loc="center")
    ax.text(0.1, 0.8, "detected")
    ax.text(0.1, 0.8, "rollback started")
    found = problems(fig, texts_apart=[ax])
    assert any("covers" in p for p in found) and any("texts" in p for p in found)


def test_the_checker_passes_a_figure_that_fits():
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("Short")
    assert problems(fig) == []


# ---- every figure ----


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    # 80 deploys of seed 2 include a bad release no strategy catches within the week followed.
    out = sim.run_batch(SCN, deploys=80, seed=2, jobs=1)
    assert out["censored"].any()
    return out


@pytest.fixture(scope="module")
def summary(rows: pd.DataFrame) -> pd.DataFrame:
    return sim.summarize(rows)


@pytest.fixture(scope="module")
def tidy() -> tuple[pd.DataFrame, list[sweep.Axis]]:
    axes = [sweep.parse_grid("judges.baseline.max_latency_ratio=1.2,2")]
    return sweep.run(
        sweep.plan("default", [], axes, ["canary", "progressive"]), axes, deploys=8, seed=1
    ), axes


def _lesson(page: Path) -> Figure:
    """The chart a workshop page draws at its knob's default, from the page's own `LESSON` (a page
    module draws nothing when imported: Streamlit runs it as __main__)."""
    lesson = runpy.run_path(str(page))["LESSON"]
    scn = lesson.build(lesson.default)
    strategies = list(scn.strategies)
    lesson_rows = sim.run_batch(scn, WORKSHOP_DEPLOYS, 42, strategies=strategies, jobs=1)
    return lesson.chart(lesson_rows, sim.summarize(lesson_rows))


def _figures() -> dict[str, Callable[[Any], Figure]]:
    """Each figure by name, drawn from the module's fixtures (passed as a dict)."""
    out: dict[str, Callable[[Any], Figure]] = {
        f"run:{name}": (lambda f, name=name: plots.run_charts(f["rows"], f["summary"])[name])
        for name in (
            "blast_radius",
            "time_to_restore",
            "blast_vs_recovery",
            "cost_vs_safety",
            "rollbacks_vs_escapes",
        )
    }
    out |= {
        "blast_vs_recovery:users": lambda f: plots.blast_vs_recovery(f["rows"], "affected_users"),
        "escapes_by_fault": lambda f: plots.escapes_by_fault(f["rows"]),
        "means:advisor": lambda f: plots.means(
            f["summary"],
            [
                "faulty_requests",
                "time_to_restore_s",
                "extra_instance_hours",
                "false_rollback_rate",
                "downtime_s",
            ],
            {"faulty_requests": 1e5, "time_to_restore_s": 3600.0},
            "canary",
        ),
        # Three counts side by side, as workshop 6 draws them: full tick labels ran into each other.
        "means:blast": lambda f: plots.means(
            f["summary"], ["faulty_requests", "affected_users", "time_to_restore_s"]
        ),
        "means:one": lambda f: plots.means(f["summary"], ["affected_users"]),
        "pareto": lambda f: sweep.chart(*f["tidy"]),
        "sweep_line": lambda f: plots.sweep_line(
            f["tidy"][0],
            f["tidy"][1][0].key,
            "false_rollback_rate",
            "false rollbacks, % of good releases",
            100.0,
        ),
    }
    for strategy, deploy in REPLAYS:
        for span in ("rollout", "all"):
            out[f"replay:{strategy}:{deploy}:{span}"] = lambda f, s=strategy, d=deploy, span=span: (
                plots.replay(sim.timeline(sim.run_deploy(SCN, s, deploy=d, seed=2)), span)
            )
    for page in LESSON_PAGES:
        out[f"workshop:{page.stem}"] = lambda f, page=page: _lesson(page)
    return out


FIGURES = _figures()


@pytest.fixture(scope="module")
def inputs(rows, summary, tidy) -> dict[str, Any]:
    return {"rows": rows, "summary": summary, "tidy": tidy}


def test_every_workshop_page_is_covered():
    assert len(LESSON_PAGES) >= 6 and all(f"workshop:{p.stem}" in FIGURES for p in LESSON_PAGES)


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_fits_its_canvas_and_keeps_its_labels_apart(name, inputs):
    fig = FIGURES[name](inputs)
    # The replay's first axes is its lane of events: their labels must not print over each other.
    lanes = fig.axes[:1] if name.startswith("replay:") else []
    assert problems(fig, texts_apart=lanes) == []
