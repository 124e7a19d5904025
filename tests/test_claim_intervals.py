"""Noise-aware verdicts: the paired t interval of the claim language, on synthetic data with a known
answer, and the check's interval tests (lower/higher/below/above) on jobs built from summaries."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dlbench.experiments.catalog import Claim, Experiment
from dlbench.experiments.check import evaluate, settings_of
from dlbench.experiments.claims import ClaimError, paired_differences, t_interval
from dlbench.records.summary import Summary
from dlbench.reporting.comparison import Job


def test_the_t_interval_of_a_known_sample() -> None:
    """1..5: mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445: 3 ± 1.963243 (a textbook case)."""
    interval = t_interval([1, 2, 3, 4, 5])
    assert interval.mean == 3 and interval.n == 5
    assert interval.low == pytest.approx(1.036757, abs=1e-6) and interval.high == pytest.approx(4.963243, abs=1e-6)


@pytest.mark.parametrize("n", [5, 10])
def test_the_interval_covers_the_true_mean_95_times_in_100(n: int) -> None:
    """4,000 samples of n normal differences with a known mean of 0.3: the 95% interval holds the
    true mean in 95% of them (a binomial 99.9% band around 0.95: 0.939 to 0.961)."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0.3, 1.0, size=(4000, n))
    covered = [t_interval(list(sample)) for sample in samples]
    share = sum(interval.low <= 0.3 <= interval.high for interval in covered) / len(covered)
    assert 0.939 <= share <= 0.961, share


def test_infinite_and_missing_differences() -> None:
    never = math.inf
    assert t_interval([never, never, never]).excludes(0, "above")  # never reached against reached, every seed
    mixed = t_interval([1.0, never, 2.0])
    assert math.isnan(mixed.low) and not mixed.excludes(0, "above") and mixed.never == 1
    assert "1 of 3 never: no t interval" in mixed.text()
    assert not t_interval([1.0]).excludes(0, "above")  # one seed: no interval, no verdict in its favour
    assert paired_differences({"0": never, "1": 3.0}, {"0": never, "1": 1.0}, 2.0) == {
        "0": pytest.approx(math.nan, nan_ok=True),
        "1": 1.0,
    }


def _experiment(holds_if: str) -> Experiment:
    claim = Claim("synthetic", holds_if, {})
    claim.check_syntax("claim of a synthetic experiment")
    return Experiment("synthetic", Path("synthetic.yaml"), "", "", claim, {}, {})


def _jobs(values: dict[str, list[float]]) -> list[Job]:
    jobs = []
    for setting, numbers in values.items():
        for seed, number in enumerate(numbers):
            summary = Summary(status="completed", seed=seed, metrics={"test": {"loss": number}})
            jobs.append(Job(len(jobs), Path("."), {"opt": setting, "seed": str(seed)}, summary))
    return jobs


def test_a_paired_difference_holds_where_the_means_alone_could_not_tell() -> None:
    """The seeds differ a lot (sd 10) but A is B - 1 on every seed, give or take 0.1: the paired
    interval of A - B lies below zero; unpaired, the means would be inside each other's spread."""
    rng = np.random.default_rng(1)
    base = rng.normal(0, 10, size=6)
    b = list(base)
    a = list(base - 1 + rng.normal(0, 0.1, size=6))
    settings = settings_of(_jobs({"a": a, "b": b}))
    held, lines, comparisons = evaluate(_experiment("lower('test/loss', a, b)"), settings)
    assert held
    (comparison,) = comparisons
    assert comparison.interval.n == 6 and comparison.interval.high < 0 < comparison.interval.high + 1
    assert comparison.interval.mean == pytest.approx(-1, abs=0.15)
    line = [line for line in lines if line.startswith("lower(")][0]
    assert "opt=a - opt=b = " in line and "(95% paired t, 6 seeds), yes" in line and "[" in line
    assert not evaluate(_experiment("higher('test/loss', a, b)"), settings)[0]


def test_a_difference_inside_the_noise_does_not_hold_whatever_the_means_say() -> None:
    """A's mean is lower than B's (the old verdict: held), but the differences are -2, 1.5, -1, 1, -0.5."""
    settings = settings_of(_jobs({"a": [8.0, 11.5, 9.0, 11.0, 9.5], "b": [10.0, 10.0, 10.0, 10.0, 10.0]}))
    assert evaluate(_experiment("mean('test/loss', a) < mean('test/loss', b)"), settings)[0]
    held, _, (comparison,) = evaluate(_experiment("lower('test/loss', a, b)"), settings)
    assert not held and comparison.interval.low < 0 < comparison.interval.high


def test_a_factor_and_a_one_sample_test() -> None:
    settings = settings_of(_jobs({"a": [21.0, 25.0, 30.0, 22.0, 26.0], "b": [10.0, 11.0, 12.0, 10.0, 11.0]}))
    assert evaluate(_experiment("higher('test/loss', a, b, 1.5)"), settings)[0]  # A - 1.5 B: 6, 8.5, 12, 7, 9.5
    assert not evaluate(_experiment("higher('test/loss', a, b, 2.5)"), settings)[0]
    assert evaluate(_experiment("below('test/loss', 12, b) and above('test/loss', 20, a)"), settings)[0]
    assert not evaluate(_experiment("below('test/loss', 10.5, b)"), settings)[0]  # mean 10.8


@pytest.mark.parametrize(
    "holds_if", ["lower('test/loss', a)", "below('test/loss', a, b)", "higher('test/loss', a, b, c)"]
)
def test_interval_tests_with_the_wrong_arguments_are_refused_when_read(holds_if: str) -> None:
    with pytest.raises(ClaimError) as error:
        _experiment(holds_if)
    assert "\n" not in str(error.value)


def test_a_non_inferiority_margin() -> None:
    """A is within 0.03 of B on every seed (differences -0.01 .. -0.02): above the margin -0.03,
    while the plain test (A above B) does not hold."""
    settings = settings_of(_jobs({"a": [0.95, 0.94, 0.96, 0.95, 0.94], "b": [0.96, 0.96, 0.97, 0.97, 0.955]}))
    assert evaluate(_experiment("higher('test/loss', a, b, 1, -0.03)"), settings)[0]
    assert not evaluate(_experiment("higher('test/loss', a, b)"), settings)[0]
    assert not evaluate(_experiment("higher('test/loss', a, b, 1, -0.01)"), settings)[0]


def test_the_gallerys_verdict_table_gives_each_difference_its_interval_and_seeds() -> None:
    from dlbench.experiments.check import Verdict
    from dlbench.experiments.gallery import summary_table

    experiment = _experiment("lower('test/loss', a, b)")
    settings = settings_of(_jobs({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [2.0, 4.0, 6.0, 8.0, 10.0]}))
    held, lines, comparisons = evaluate(experiment, settings)
    verdict = Verdict(experiment, Path("."), held, lines, [], 10, 10, None, comparisons)
    run = {"wall_time_s": 61, "load_average_before": [7.5, 7, 6], "code_version": "abc1234"}
    header, _, row = summary_table([(experiment, verdict, run)])
    assert "difference [95% interval] (seeds)" in header
    # a - b = -1 .. -5: mean -3, t(0.975, 4) x sd / sqrt(5) = 1.963
    assert "| held | opt=a - opt=b: -3 [-4.963, -1.037] (5) yes | 10 | 1.1 min (7.5) | abc1234 |" in row


def test_regenerating_the_gallery_keeps_rows_measured_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeps stay on the machine that ran them: an experiment with no sweep here keeps the row
    and section the page shows (its verdict, time and code version), one never measured says so."""
    from dlbench.experiments import gallery

    page = tmp_path / "experiments.md"
    measured = "| [xor_1986](#xor_1986) | held | no interval test: a level on the mean or counts |"
    measured += " 10 | 1.5 min (0.9) | abc1234 |"
    page.write_text(
        "# head\n\n<!-- gallery -->\n\n| experiment | verdict |\n|---|---|\n"
        f"{measured}\n| [iris](#iris) | not yet run here | - | - | - | - |\n\n"
        "### xor_1986\n\nits text\n\n**Verdict: held.**\n\n### iris\n\n**Not yet run here**.\n\n"
        "<!-- /gallery -->\ntail\n"
    )
    monkeypatch.setattr(gallery, "PAGE", page)
    assert gallery.make_gallery([], root=str(tmp_path / "no_sweeps")) == 0
    text = page.read_text()
    assert measured in text
    assert "### xor_1986\n\nits text\n\n**Verdict: held.**\n" in text
    assert "| [iris](#iris) | not yet run here |" in text and text.endswith("<!-- /gallery -->\ntail\n")
    assert text.count("### xor_1986") == 1 and "### learning_rate" in text  # every experiment has its section
