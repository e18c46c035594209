"""Question difficulty without the ground truth (Snell et al. 2024, §3.2).

Snell et al. bin questions into five levels by the model's success rate (an oracle) or,
without the answer, by the mean verifier score over 2048 samples ("model-predicted
difficulty"), with bins at quantiles so that each holds a fifth of the questions. Here a
few probe samples give a confidence in [0, 1]:
- ``agreement``: the share of probes giving the majority answer (self-consistency);
- ``prm`` / ``orm`` / ``verifier``: the mean outcome score of the probes (the verifier is
  an oracle: it reads the ground truth, for upper-bound runs only).
High confidence means easy: bin 1 is the easiest, bin 5 the hardest.

Departures: ``probe_n`` samples (default 4) instead of 2048; the cut points are quantiles
of the confidences of TRAINING problems (``fit_cuts``), so nothing is fitted on held-out
problems; and the probes' cost is charged to the strategy that uses the estimate (the
paper leaves it out of its compute accounting).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import Budget, Scorers, Trace, answer_rule_of, prompt_of, to_traces
from ponder.think.compute import Compute
from ponder.think.scorers import outcome_scorer, score_traces
from ponder.think.steps import derive_seed, sample_each

SIGNALS = ("agreement", "prm", "orm", "verifier")
N_BINS = 5
DEFAULT_CUTS = [0.2, 0.4, 0.6, 0.8]  # until cuts are fitted on training problems


def agreement(answers: list[str | None]) -> float:
    """Share of samples giving the majority answer; no answer never agrees.

    >>> agreement(["3", "3", "4", None])
    0.5
    >>> agreement([None, None])
    0.0
    """
    counts = Counter(a for a in answers if a is not None)
    return max(counts.values(), default=0) / len(answers) if answers else 0.0


def fit_cuts(confidences: list[float], bins: int = N_BINS) -> list[float]:
    """``bins - 1`` ascending cut points at the quantiles of training confidences, so the
    bins hold about equal numbers of training problems.

    >>> fit_cuts([i / 10 for i in range(11)], 5)
    [0.2, 0.4, 0.6, 0.8]
    """
    if bins < 2 or len(confidences) < 2:
        raise ConfigError(f"fit_cuts needs >= 2 bins and >= 2 confidences, got {bins} bins "
                          f"and {len(confidences)} confidences")
    return [round(q, 12) for q in statistics.quantiles(confidences, n=bins,
                                                       method="inclusive")]


def to_bin(confidence: float, cuts: list[float]) -> int:
    """Difficulty bin of a confidence: 1 (easiest) .. len(cuts) + 1 (hardest); a value
    equal to a cut goes to the easier side.

    >>> [to_bin(c, DEFAULT_CUTS) for c in (0.95, 0.5, 0.4, 0.05)]
    [1, 3, 3, 5]
    """
    return 1 + sum(confidence < c for c in cuts)


@dataclass
class Estimate:
    confidence: float
    bin: int
    compute: Compute
    traces: list[Trace]


def estimate(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
             probe_n: int = 4, signal: str = "agreement", cuts: list[float] | None = None,
             seed: int = 0) -> Estimate:
    """Draw ``probe_n`` samples (with the budget's temperature and token cap) and turn
    them into a confidence and a bin; the cost of doing so is in ``Estimate.compute``."""
    if signal not in SIGNALS:
        raise ConfigError(f"unknown difficulty signal {signal!r}; choose one of {SIGNALS}")
    if not isinstance(probe_n, int) or probe_n < 1:
        raise ConfigError(f"probe_n must be an integer >= 1, got {probe_n!r}")
    scorer = None if signal == "agreement" else outcome_scorer(scorers, problem, signal,
                                                               "last", "difficulty")
    rule = answer_rule_of(problem)
    compute = Compute()
    prompt = prompt_of(lm, problem)
    outs = sample_each(lm, [prompt] * probe_n, budget, compute, derive_seed(seed, "probe"))
    traces = to_traces(outs, rule)
    if scorer is None:
        conf = agreement([t.answer for t in traces])
    else:
        conf = sum(score_traces(scorer, lm, prompt, traces, compute)) / probe_n
    for t in traces:
        t.meta["probe"] = True
    return Estimate(conf, to_bin(conf, DEFAULT_CUTS if cuts is None else cuts), compute, traces)
