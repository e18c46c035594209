"""How long to think: the ``reasoning_effort`` levels, mapped onto ``ponder.think``.

    low     greedy: one chain of thought at temperature 0 (one sample at the request's
            temperature when one is given)
    medium  self-consistency (``vote``): ``medium_n`` chains, majority answer
    high    ``high_n`` chains: PRM/ORM-weighted best-of-N (``best_of_n``, weighted) when
            the server has a scorer, else self-consistency
    auto    the server picks, from the prompt's predicted difficulty

``auto`` follows the compute-optimal idea of Snell et al. (2024, §3.1): estimate how hard
a prompt is for *this* model and spend accordingly. Where they bin difficulty by a
verifier's score over many samples, we use a cheaper, verifier-free proxy: the agreement
of ``probe_n`` sampled answers. When the probes agree (an easy prompt) their majority is
the answer and nothing more is spent; otherwise the medium or the high plan runs. Probe
tokens are billed like any other reasoning tokens. Given a policy fitted on training
problems (``auto_policy``, see ``ponder.think.optimal``), ``auto`` runs the compute-optimal
strategy instead: the probes pick a difficulty bin, the bin picks strategy and N.

Every level is a ``Plan`` naming a strategy of ``ponder.think.STRATEGIES``, so new
strategies (beam search, revisions, budget forcing) slot in by changing a plan, not the
server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError, UnknownName
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think import STRATEGIES, Budget, Result, Scorers, get_strategy
from ponder.think.difficulty import agreement
from ponder.think.optimal import Policy, load_policies
from ponder.think.steps import derive_seed

EFFORTS = ("low", "medium", "high", "auto")


@dataclass(frozen=True)
class Plan:
    effort: str  # low | medium | high
    strategy: str  # a key of ponder.think.STRATEGIES
    n: int  # chains of thought (before a token budget trims them)
    temperature: float
    options: dict[str, Any] = field(default_factory=dict)  # the strategy's Budget.options


@dataclass
class Thought:
    """A strategy's Result plus how the effort level was resolved."""

    result: Result
    effort: str
    effort_used: str
    strategy: str
    difficulty: float | None = None  # predicted, for ``auto``
    probes: list = field(default_factory=list)  # the probes' traces (``auto``)


@dataclass
class EffortPolicy:
    medium_n: int = 5
    high_n: int = 16
    temperature: float = 0.8  # sampling temperature of multi-sample levels
    probe_n: int = 4  # ``auto``: samples drawn to predict difficulty
    easy_agreement: float = 0.75  # ``auto``: probes agreeing this much -> answer from them
    hard_agreement: float = 0.5  # ``auto``: below this -> high, else medium
    scored_strategy: str = "best_of_n"  # ``high`` with a PRM/ORM, if registered
    auto_policy: Policy | str | Path | None = None  # compute-optimal ``auto`` (see above)

    def __post_init__(self) -> None:
        if isinstance(self.auto_policy, str | Path):  # a file of save_policies: its first
            policies = load_policies(self.auto_policy)
            if not policies:
                raise ConfigError(f"{self.auto_policy}: no compute-optimal policy in it")
            self.auto_policy = policies[0]
        if min(self.medium_n, self.high_n, self.probe_n) < 1:
            raise ConfigError("medium_n, high_n and probe_n must be >= 1")
        if not 0 <= self.hard_agreement <= self.easy_agreement <= 1:
            raise ConfigError("need 0 <= hard_agreement <= easy_agreement <= 1, got "
                              f"{self.hard_agreement} and {self.easy_agreement}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 for sampling, got {self.temperature}")

    def plan(self, effort: str, scorers: Scorers | None = None,
             temperature: float | None = None) -> Plan:
        """The fixed plan of ``low``, ``medium`` or ``high``."""
        t = self.temperature if temperature is None else temperature
        if effort == "low":
            return Plan("low", "vote", 1, t) if temperature else Plan("low", "greedy", 1, 0.0)
        if effort == "medium":
            return Plan("medium", "vote", self.medium_n, t)
        if effort == "high":
            scored = scorers is not None and (scorers.prm or scorers.orm) is not None
            if scored and self.scored_strategy in STRATEGIES:
                opts = {"weighted": True} if self.scored_strategy == "best_of_n" else {}
                return Plan("high", self.scored_strategy, self.high_n, t, opts)
            return Plan("high", "vote", self.high_n, t)
        raise UnknownName("reasoning effort", effort, EFFORTS)

    def think(self, problem: Problem, lm: LM, effort: str, *, max_tokens: int,
              total_tokens: int | None = None, temperature: float | None = None,
              top_p: float | None = None, scorers: Scorers | None = None,
              seed: int = 0) -> Thought:
        """Answer ``problem`` at ``effort``. Each chain is capped at ``max_tokens``; all
        chains together stay within ``total_tokens`` when it is given (fewer chains are
        drawn rather than exceeding it)."""
        if effort == "auto" and self.auto_policy is not None:
            return self._optimal(problem, lm, max_tokens, total_tokens, temperature, top_p,
                                 scorers, seed)
        if effort == "auto":
            return self._auto(problem, lm, max_tokens, total_tokens, temperature, top_p,
                              scorers, seed)
        plan = self.plan(effort, scorers, temperature)
        result = _run(plan, problem, lm, max_tokens, total_tokens, top_p, scorers, seed)
        return Thought(result, effort, plan.effort, plan.strategy)

    def _auto(self, problem: Problem, lm: LM, max_tokens: int, total_tokens: int | None,
              temperature: float | None, top_p: float | None, scorers: Scorers | None,
              seed: int) -> Thought:
        # Probes must be sampled: at temperature 0 they would always agree.
        t = temperature or self.temperature
        probe = Plan("low", "vote", self.probe_n, t)
        probes = _run(probe, problem, lm, max_tokens, total_tokens, top_p, scorers, seed)
        agree = agreement([tr.answer for tr in probes.traces])
        difficulty = round(1.0 - agree, 4)
        spent = probes.compute.generated_tokens
        rest = None if total_tokens is None else total_tokens - spent
        if agree >= self.easy_agreement or (rest is not None and rest < max_tokens):
            return Thought(probes, "auto", "low", "vote", difficulty, probes.traces)
        level = "medium" if agree >= self.hard_agreement else "high"
        plan = self.plan(level, scorers, temperature)
        result = _run(plan, problem, lm, max_tokens, rest, top_p, scorers,
                      derive_seed(seed, "serve", "auto"))
        result.compute = probes.compute + result.compute
        return Thought(result, "auto", level, plan.strategy, difficulty, probes.traces)

    def _optimal(self, problem: Problem, lm: LM, max_tokens: int, total_tokens: int | None,
                 temperature: float | None, top_p: float | None, scorers: Scorers | None,
                 seed: int) -> Thought:
        policy = self.auto_policy
        assert isinstance(policy, Policy)
        n = int(policy.target_budget)
        if total_tokens is not None:  # the worst case (probes + largest choice) must fit
            most = policy.probe_n + max(c.n for c in policy.choices.values())
            max_tokens = max(1, min(max_tokens, total_tokens // most))
        plan = Plan("auto", "optimal", n, temperature or self.temperature, {"policy": policy})
        result = _run(plan, problem, lm, max_tokens, None, top_p, scorers, seed)
        chosen = result.meta.get("choice", {}).get("strategy", "?")
        confidence = result.meta.get("confidence")
        difficulty = None if confidence is None else round(1.0 - confidence, 4)
        return Thought(result, "auto", f"bin {result.meta.get('bin')}",
                       f"optimal:{chosen}", difficulty)


def _run(plan: Plan, problem: Problem, lm: LM, max_tokens: int, total_tokens: int | None,
         top_p: float | None, scorers: Scorers | None, seed: int) -> Result:
    n = plan.n if total_tokens is None else max(1, min(plan.n, total_tokens // max_tokens))
    budget = Budget(n=n, max_tokens=max_tokens, temperature=plan.temperature,
                    top_p=1.0 if top_p is None else top_p, options=dict(plan.options))
    return get_strategy(plan.strategy)(problem, lm, budget, scorers, seed)
