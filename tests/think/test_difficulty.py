import random
from dataclasses import replace

import pytest

from ponder.errors import ConfigError
from ponder.think import Budget, Scorers
from ponder.think.difficulty import agreement, estimate, fit_cuts, to_bin
from tests.think.fakes import PROBLEM, FakePRM, RecordingLM, answering, step_policy


def test_agreement_signal_bins_sure_and_confused_models():
    sure = estimate(PROBLEM, answering(1), Budget(), probe_n=8)
    confused = estimate(PROBLEM, answering(1000), Budget(), probe_n=8)
    assert (sure.confidence, sure.bin) == (1.0, 1)
    assert confused.confidence == 1 / 8 and confused.bin == 5
    assert len(sure.traces) == 8 and all(t.meta["probe"] for t in sure.traces)


def test_prm_signal_and_cost():
    lm, prm = RecordingLM(step_policy(p_ok=1.0)), FakePRM()
    good = estimate(PROBLEM, lm, Budget(), Scorers(prm=prm), probe_n=4, signal="prm")
    assert good.confidence == pytest.approx(0.9) and good.bin == 1
    assert good.compute.samples == 4 and good.compute.scorer_tokens == prm.read > 0
    bad = estimate(PROBLEM, step_policy(p_ok=0.0), Budget(), Scorers(prm=FakePRM()),
                   signal="prm")
    assert bad.confidence == pytest.approx(0.1) and bad.bin == 5


def test_estimate_never_reads_the_ground_truth():
    for signal in ("agreement", "prm"):
        a = estimate(PROBLEM, step_policy(0.5), Budget(), Scorers(prm=FakePRM()), 6, signal)
        b = estimate(replace(PROBLEM, answer="999"), step_policy(0.5), Budget(),
                     Scorers(prm=FakePRM()), 6, signal)
        assert a.confidence == b.confidence


def test_cuts_fitted_on_training_confidences_make_equal_bins():
    rng = random.Random(0)
    train = [rng.random() ** 2 for _ in range(1000)]  # skewed towards hard
    cuts = fit_cuts(train)
    counts = [sum(to_bin(c, cuts) == b for c in train) for b in range(1, 6)]
    assert all(190 <= k <= 210 for k in counts)
    assert cuts == sorted(cuts) and len(cuts) == 4
    assert agreement(["1", "1", None, "2"]) == 0.5


def test_errors_and_accounting():
    with pytest.raises(ConfigError, match="signal"):
        estimate(PROBLEM, step_policy(), Budget(), signal="entropy")
    with pytest.raises(ConfigError, match="needs a scorer|was asked for"):
        estimate(PROBLEM, step_policy(), Budget(), signal="orm")
    with pytest.raises(ConfigError, match="fit_cuts"):
        fit_cuts([0.5])
    lm = answering(3)
    est = estimate(PROBLEM, lm, Budget(), probe_n=5)
    assert est.compute.samples == 5 == len(lm.completions)
    assert est.compute.generated_tokens == sum(c.tokens for c in lm.completions)
