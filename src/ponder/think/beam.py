"""Step-level beam search against a PRM, with optional lookahead (Snell et al. 2024, §5.1).

Given a total budget N and a beam width M:
1. sample N first steps;
2. score every prefix with the PRM (``aggregate``; Snell et al. use the PRM's prediction
   at the last step as the prefix's value);
3. keep the top N/M prefixes;
4. expand each kept prefix into M next steps (N candidates again); repeat from 2 until
   the solutions end or ``max_steps`` rounds (40 in the paper) have run;
5. answer over the finished solutions by best-of-N weighted (``select``).

Lookahead search (same section): with ``lookahead`` = k > 0, each candidate step is scored
by the PRM at the end of a k-step greedy (temperature 0) rollout from it; the rollout is
thrown away and only the step is kept. Rollout tokens are counted like any other.

Departures: a solution that finishes leaves the beam and counts against N, and the
number of prefixes kept shrinks so that at most N solutions are ever finished (the paper
does not say what happens to beams that end early). A step is one line of thinking, as
in ponder's template (``ponder.think.steps``).

Options: ``beam_width`` (M, must divide N; ``"sqrt"``: M = sqrt(N), the width Snell et
al. use beside M = 4, so one setting serves every square budget), ``lookahead`` (k >= 0),
``max_steps``, ``aggregate`` (last | min | prod), ``select`` (weighted | best | vote).
"""

from __future__ import annotations

import math
import time

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.tasks.base import Problem
from ponder.think.base import (
    Budget,
    Result,
    Scorers,
    Trace,
    answer_of,
    answer_rule_of,
    prompt_of,
    read_options,
)
from ponder.think.compute import Compute
from ponder.think.scorers import aggregate, choose, score_steps
from ponder.think.steps import Partial, derive_seed, extend

DEFAULTS = {"beam_width": 4, "lookahead": 0, "max_steps": 40, "aggregate": "last",
            "select": "weighted"}


def expansion_counts(remaining: int, m: int, max_beams: int) -> list[int]:
    """How many next steps each kept prefix gets: M each for up to ``max_beams`` prefixes,
    never more than ``remaining`` in all (solutions still allowed to finish).

    >>> expansion_counts(16, 4, 4), expansion_counts(6, 4, 4), expansion_counts(3, 4, 4)
    ([4, 4, 4, 4], [4, 2], [3])
    """
    k = min(max_beams, math.ceil(remaining / m))
    counts = [m] * k
    if k and sum(counts) > remaining:
        counts[-1] = remaining - m * (k - 1)
    return counts


def top_k(scores: list[float], k: int) -> list[int]:
    """Indices of the k best scores, best first; ties keep the earlier index.

    >>> top_k([0.2, 0.9, 0.5, 0.9], 3)
    [1, 3, 2]
    """
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def width_for(spec: int | str, n: int) -> int:
    """The beam width M for budget ``n``: ``spec`` itself, or sqrt(n) for ``"sqrt"``.

    >>> width_for(4, 16), width_for("sqrt", 16), width_for("sqrt", 1)
    (4, 4, 1)
    """
    if spec == "sqrt":
        m = math.isqrt(n)
        if m * m != n:
            raise ConfigError(f"beam: beam_width \"sqrt\" needs a square budget, got n={n}")
        return m
    if not isinstance(spec, int) or isinstance(spec, bool) or not 1 <= spec <= n or n % spec:
        raise ConfigError(f"beam: beam_width must be \"sqrt\" or an integer in 1..n dividing "
                          f"the budget n={n}, got {spec!r}")
    return spec


def _check(opts: dict, n: int) -> None:
    opts["beam_width"] = width_for(opts["beam_width"], n)
    for key, lo in (("lookahead", 0), ("max_steps", 1)):
        if not isinstance(opts[key], int) or opts[key] < lo:
            raise ConfigError(f"beam: option {key} must be an integer >= {lo}, "
                              f"got {opts[key]!r}")
    aggregate([], opts["aggregate"])
    choose([], [], opts["select"])


def _lookahead(lm: LM, prompt: str, parts: list[Partial], k: int, budget: Budget,
               compute: Compute, seed: int) -> list[Partial]:
    """Each prefix rolled out k more steps at temperature 0 (stops early when done; the
    answer after a closing step is not written, since the PRM scores thinking only)."""
    cur = list(parts)
    for j in range(k):
        todo = [i for i, p in enumerate(cur) if not p.done]
        if not todo:
            break
        rows = extend(lm, prompt, [cur[i] for i in todo], 1, budget, compute,
                      derive_seed(seed, "lookahead", j), temperature=0.0, answer=False)
        for i, [p] in zip(todo, rows, strict=True):
            cur[i] = p
    return cur


def beam(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
         seed: int = 0) -> Result:
    opts = read_options(budget, "beam", DEFAULTS)
    _check(opts, budget.n)
    if scorers is None or scorers.prm is None:
        raise ConfigError("beam needs a PRM: pass Scorers(prm=...)")
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    prompt, n, m = prompt_of(lm, problem), budget.n, opts["beam_width"]
    compute = Compute()
    finished: list[tuple[Partial, float, int]] = []  # (solution, score, round)
    kept: list[tuple[Partial, float]] = []  # prefixes still growing
    beams, counts = [Partial()], [n]
    for r in range(opts["max_steps"]):
        cands = [p for row in extend(lm, prompt, beams, counts, budget, compute,
                                     derive_seed(seed, "beam", r)) for p in row]
        judged = _lookahead(lm, prompt, cands, opts["lookahead"], budget, compute,
                            derive_seed(seed, "beam", r))
        steps = score_steps(scorers.prm, lm, [prompt] * len(judged),
                            [p.text for p in judged], compute)
        values = [aggregate(s, opts["aggregate"]) for s in steps]
        finished += [(p, v, r) for p, v in zip(cands, values, strict=True) if p.done]
        live = [(p, v) for p, v in zip(cands, values, strict=True) if not p.done]
        counts = expansion_counts(n - len(finished), m, n // m)[: len(live)]
        kept = [live[i] for i in top_k([v for _, v in live], len(counts))]
        if not kept:
            break
        beams = [p for p, _ in kept]
    # prefixes still kept when max_steps runs out are traces without an answer
    traces = [Trace(p.text, answer_of(p.text, rule), v, p.tokens, {"round": r})
              for p, v, r in finished]
    traces += [Trace(p.text, None, v, p.tokens, {"unfinished": True}) for p, v in kept]
    i = choose([t.answer for t in traces], [t.score or 0.0 for t in traces], opts["select"])
    chosen = traces[i] if i is not None else max(traces, key=lambda t: t.score or 0.0)
    compute.wall_time = time.perf_counter() - t0
    return Result(chosen.answer, chosen.completion, traces, compute,
                  meta={"finished": len(finished), **opts})
