"""The alignment benchmark's settings (built from the bundled pair) and its rows; the benchmark itself runs as
``neuralign bench align``."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import align as bench_align
from neuralign.bench import benchmark_rows


def test_small_session_is_40_trials_of_7_bins_and_4_conditions():
    source, align, evaluation = bench_align.scenario("small", 0)
    assert align.counts.shape[:2] == (40, 7) and len(np.unique(align.labels)) == 4
    assert source.n_time == 7 and set(np.unique(evaluation.labels)) == set(np.unique(align.labels))
    np.testing.assert_allclose(source.counts.sum(), bench_align.load("erdiff_miller_co")[0].counts.sum(), rtol=1e-6)


@pytest.mark.parametrize("name", ["proxy", "proxy reversed"])
def test_proxies_have_fewer_trials_bins_conditions_and_units(name):
    source, align, evaluation = bench_align.scenario(name, 1)
    assert source.n_trials == 70 and source.n_time == 7 and len(np.unique(source.labels)) == 5
    assert align.n_trials + evaluation.n_trials == 70 and set(np.unique(align.labels)) == set(np.unique(source.labels))
    assert source.n_units in (112, 103) and align.n_units in (112, 103) and source.n_units != align.n_units


def test_same_units_and_reversed_settings():
    source, align, evaluation = bench_align.scenario("same units", 2)
    assert source.n_units == align.n_units == 187 and source.n_trials == 84 and align.n_trials == 42
    source, align, _ = bench_align.scenario("reversed", 2)
    assert source.n_units == 172 and align.n_units == 187
    first, _, _ = bench_align.scenario("pair", 3)
    again, _, _ = bench_align.scenario("pair", 3)
    np.testing.assert_array_equal(first.counts, again.counts)


def test_results_give_rates_margins_and_keep_runs_in_order():
    class Report:
        labelled, margin, runner_up, relations, margin_kind = 0, 1.5, 1, ["same", "mirror"], "z"

    class Aligner:
        report_ = Report()

    summary = bench_align.report_summary(Aligner())
    assert summary == {"margin": 1.5, "kind": "z", "mirror": 1.0}
    Report.labelled = 8
    assert bench_align.report_summary(Aligner()) is None  # a labelled choice has no unsupervised margin
    results = bench_align._Results()
    results.add("dynamics (default)", "pair", 80.0, 10.0, summary)
    results.add("dynamics (default)", "pair", -250.0, 12.0, summary)
    rows = {row.metric: row for row in results.rows("tuning seeds 0-1")}
    assert rows["velocity R2 %"].values == [80.0, -250.0]
    assert rows["right-map rate (R2 >= 75 %)"].values == [1.0, 0.0]
    assert rows["margin"].values == [1.5, 1.5] and rows["runner-up is a mirror"].values == [1.0, 1.0]
    assert "tuning seeds 0-1" in rows["margin"].setting


def test_a_checkpoint_resumes_after_the_finished_tasks_and_refuses_another_run(tmp_path):
    import json

    plan = bench_align.plan(quick=True, seeds=1, seed_set="tuning")
    assert [task.key for task in plan.tasks] == ["seed 0 pair", "seed 0 same units", "seed 0 small"]
    checkpoint = tmp_path / "align.json.partial"
    done = {task.key: [["dynamics (default)", 80.0 + index, 10.0, None]] for index, task in enumerate(plan.tasks)}
    checkpoint.write_text(json.dumps({"identity": plan.identity, "results": done}))
    messages = []
    rows = benchmark_rows("align", quick=True, seeds=1, progress=messages.append, seed_set="tuning",
                          checkpoint=checkpoint)
    assert [row.values for row in rows if row.metric == "velocity R2 %"] == [[80.0], [81.0], [82.0]]  # no refit
    assert "3 of 3 tasks done" in messages[0]
    with pytest.raises(ValueError, match="checkpoint: .* holds another run"):
        benchmark_rows("align", quick=True, seeds=1, progress=messages.append, seed_set="reporting",
                       checkpoint=checkpoint)


@pytest.mark.slow
def test_quick_alignment_benchmarks_run_end_to_end():
    rows = benchmark_rows("align", quick=True, seeds=1, progress=lambda message: None, seed_set="tuning")
    methods = {row.method for row in rows}
    assert {"dynamics (default)", "no alignment (source read-in)", "target-behaviour read-in (labels)"} <= methods
    assert any(row.metric == "margin" for row in rows)
    timing = benchmark_rows("align-timing", quick=True, seeds=1, progress=lambda message: None,
                            seed_set="tuning")
    assert {row.metric for row in timing} >= {"fit seconds (wall)", "alignment seconds (wall)"}
