"""Compute-optimal test-time scaling (Snell et al. 2024, §3.2).

The best way to spend test-time compute depends on the question's difficulty. Snell et
al. estimate each question's difficulty bin and, for a given generation budget, use the
strategy and hyperparameters that did best on that bin: §3.2 eq. (1), approximated by
choosing per bin the best configuration measured on a validation set (their "compute-
optimal" curves, at up to 4x less compute than best-of-N).

Here:
- ``fit_policy(table, target_budget)``: from a table of accuracies measured on TRAINING
  problems, one cell per (strategy, options, n, difficulty bin), pick per bin the cell
  with the best accuracy among those whose cost is within the budget (cost is ``n``,
  or mean FLOPs with ``key="flops"``). The result is a small JSON-able Policy.
- ``optimal``: estimate the bin of a new problem without its answer
  (``ponder.think.difficulty``), then run the policy's choice for that bin. The probes'
  compute is added to the strategy's, so the comparison with other strategies is honest.
  When the bin's choice is ``vote`` and the probes were judged by agreement, the probes
  are the vote's first samples, so they are not paid for twice; when every bin has the
  same choice, no probes are drawn at all (the estimate could not change the choice).

Departures: Snell et al. select on held-out validation questions with oracle or 2048-sample
difficulty; here bins come from a few probes and the table from training problems. A bin
absent from the table takes the choice of the nearest bin that has one.

Options: ``policy``: a Policy, its dict, a path to a JSON file written by ``save_policies``,
or a list of these; the first whose ``target_budget`` equals ``budget.n`` is used (a
policy fitted by FLOPs, ``key="flops"``, matches any ``budget.n``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import Budget, Result, Scorers, Trace, read_options
from ponder.think.compute import Compute
from ponder.think.difficulty import DEFAULT_CUTS, SIGNALS, Estimate, estimate
from ponder.think.steps import derive_seed
from ponder.think.vote import elect, vote, votes

DEFAULTS = {"policy": None}
COST_KEYS = ("n", "flops")


@dataclass
class Choice:
    """What to run on one difficulty bin."""

    strategy: str
    n: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cell:
    """One measurement on training problems: a configuration's accuracy on one bin."""

    strategy: str
    n: int
    bin: int
    accuracy: float
    options: dict[str, Any] = field(default_factory=dict)
    flops: float = 0.0  # mean FLOPs per problem, for key="flops"


@dataclass
class Policy:
    """Difficulty bin -> Choice, plus how to estimate the bin."""

    target_budget: float
    choices: dict[int, Choice]
    cuts: list[float] = field(default_factory=lambda: list(DEFAULT_CUTS))
    signal: str = "agreement"
    probe_n: int = 4
    key: str = "n"

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ConfigError(f"policy signal must be one of {SIGNALS}, got {self.signal!r}")
        if self.key not in COST_KEYS:
            raise ConfigError(f"policy cost key must be one of {COST_KEYS}, got {self.key!r}")
        need = set(range(1, len(self.cuts) + 2))
        if set(self.choices) != need:
            raise ConfigError(f"policy must choose for every bin {sorted(need)}, "
                              f"got {sorted(self.choices)}")

    def single_choice(self) -> Choice | None:
        """The choice every bin makes, if they all make the same one (then estimating
        a problem's bin would change nothing)."""
        first, *rest = self.choices.values()
        return first if all(c == first for c in rest) else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = {str(b): asdict(c) for b, c in self.choices.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        """The Policy of a ``to_dict`` form; anything else raises ConfigError."""
        try:
            choices = {int(b): Choice(**c) for b, c in d["choices"].items()}
            return cls(**{**d, "choices": choices})
        except ConfigError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"not a compute-optimal policy ({type(e).__name__}: {e}); "
                              "write one with ponder.think.optimal.save_policies") from None


def save_policies(path: str | Path, policies: list[Policy]) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"policies": [p.to_dict() for p in policies]}, indent=2))
    return path


def load_policies(path: str | Path) -> list[Policy]:
    """The policies of a file written by ``save_policies``; a missing, unreadable or
    malformed file raises ConfigError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read policy file {path}: {e.strerror or e}") from None
    except ValueError as e:  # JSONDecodeError, or bytes that are not text
        raise ConfigError(f"policy file {path} is not JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("policies"), list):
        raise ConfigError(f'policy file {path} must hold {{"policies": [...]}}, as '
                          "save_policies writes it")
    return [Policy.from_dict(d) for d in data["policies"]]


def best_cell(cells: list[Cell], target: float, key: str = "n") -> Cell | None:
    """The most accurate cell costing at most ``target``; ties go to the cheaper, then
    to the earlier cell.

    >>> cells = [Cell("vote", 4, 1, 0.8), Cell("beam", 4, 1, 0.9), Cell("beam", 16, 1, 0.95)]
    >>> best_cell(cells, 4).strategy, best_cell(cells, 16).n, best_cell(cells, 2)
    ('beam', 16, None)
    """
    ok = [(i, c) for i, c in enumerate(cells) if getattr(c, key) <= target]
    if not ok:
        return None
    return max(ok, key=lambda ic: (ic[1].accuracy, -getattr(ic[1], key), -ic[0]))[1]


def fit_policy(table: Iterable[Cell | dict[str, Any]], target_budget: float, key: str = "n",
               cuts: list[float] | None = None, signal: str = "agreement",
               probe_n: int = 4) -> Policy:
    """Per difficulty bin, the best configuration within ``target_budget`` (see module)."""
    if key not in COST_KEYS:
        raise ConfigError(f"policy cost key must be one of {COST_KEYS}, got {key!r}")
    cells = [c if isinstance(c, Cell) else Cell(**c) for c in table]
    cuts = list(DEFAULT_CUTS if cuts is None else cuts)
    bins = range(1, len(cuts) + 2)
    picked = {b: best_cell([c for c in cells if c.bin == b], target_budget, key) for b in bins}
    have = [b for b, c in picked.items() if c is not None]
    if not have:
        raise ConfigError(f"no configuration in the table costs at most {target_budget} "
                          f"({key}); measure smaller budgets or raise the target")
    choices = {}
    for b in bins:  # a bin with no measurement borrows from the nearest one (lower on ties)
        c = picked[b] or picked[min(have, key=lambda h: (abs(h - b), h))]
        assert c is not None
        choices[b] = Choice(c.strategy, c.n, dict(c.options))
    return Policy(target_budget, choices, cuts, signal, probe_n, key)


def _policies(spec: Any) -> list[Policy]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[Policy] = []
    for it in items:
        if isinstance(it, Policy):
            out.append(it)
        elif isinstance(it, dict):
            out.append(Policy.from_dict(it))
        elif isinstance(it, str | Path):
            out += load_policies(it)
        else:
            raise ConfigError(f"optimal: policy must be a Policy, dict or JSON path, "
                              f"got {type(it).__name__}")
    return out


def optimal(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
            seed: int = 0) -> Result:

    opts = read_options(budget, "optimal", DEFAULTS)
    if opts["policy"] is None:
        raise ConfigError("optimal needs options['policy']: fit one on training problems "
                          "with ponder.think.optimal.fit_policy and save it as JSON")
    policies = _policies(opts["policy"])
    match = [p for p in policies if p.key == "flops" or p.target_budget == budget.n]
    if not match:
        raise ConfigError(f"optimal: no policy fitted for budget n={budget.n}; have "
                          f"{sorted(p.target_budget for p in policies)}")
    policy = match[0]
    t0 = time.perf_counter()
    only = policy.single_choice()
    if only is not None:  # no probes: they could not change the choice
        return _run_choice(problem, lm, budget, scorers, seed, only, t0, None)
    est = estimate(problem, lm, budget, scorers, policy.probe_n, policy.signal, policy.cuts,
                   derive_seed(seed, "difficulty"))
    choice = policy.choices[est.bin]
    if choice.strategy == "vote" and policy.signal == "agreement":
        return _vote_with_probes(problem, lm, budget, scorers, seed, est, choice, t0)
    return _run_choice(problem, lm, budget, scorers, seed, choice, t0, est)


def _run_choice(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None, seed: int,
                choice: Choice, t0: float, est: Estimate | None) -> Result:
    """Run the chosen strategy; the probes (if any were drawn) are paid for and kept."""
    from ponder.think import get_strategy  # the registry imports this module

    if choice.strategy == "optimal":
        raise ConfigError("optimal: a policy cannot choose 'optimal' itself")
    sub = Budget(n=choice.n, max_tokens=budget.max_tokens, temperature=budget.temperature,
                 top_p=budget.top_p, options=dict(choice.options))
    res = get_strategy(choice.strategy)(problem, lm, sub, scorers, seed=seed)
    probe = est.compute if est is not None else Compute()
    compute = probe + res.compute
    compute.wall_time = time.perf_counter() - t0
    return Result(res.answer, res.completion, (est.traces if est else []) + res.traces,
                  compute, meta={"bin": est.bin if est else None,
                                 "confidence": est.confidence if est else None,
                                 "choice": asdict(choice), "strategy_meta": res.meta,
                                 "probe_compute": probe.to_dict(),
                                 "probed": est is not None})


def _vote_with_probes(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None,
                      seed: int, est: Estimate, choice: Choice, t0: float) -> Result:
    """A vote of n samples when the probes were drawn the same way: the probes are the
    first samples of the vote, so only ``n - probe_n`` more are drawn (n <= probe_n: the
    first n probes decide). Same answer distribution as a fresh vote, less compute."""
    probes = est.traces[: choice.n]
    extra: list[Trace] = []
    compute = Compute() + est.compute  # a copy: est.compute stays the probes' own cost
    if choice.n > len(probes):
        sub = Budget(n=choice.n - len(probes), max_tokens=budget.max_tokens,
                     temperature=budget.temperature, top_p=budget.top_p,
                     options=dict(choice.options))
        res = vote(problem, lm, sub, scorers, seed=seed)
        extra, compute = res.traces, compute + res.compute
    answer, chosen = elect([*probes, *extra])
    compute.wall_time = time.perf_counter() - t0
    return Result(answer, chosen, est.traces + extra, compute,
                  meta={"bin": est.bin, "confidence": est.confidence,
                        "choice": asdict(choice), "reused_probes": len(probes),
                        "votes": votes([*probes, *extra]),
                        "probe_compute": est.compute.to_dict()})
