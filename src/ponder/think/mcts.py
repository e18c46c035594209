"""Monte Carlo tree search over reasoning steps.

Nodes are prefixes of a completion, edges are steps (one line of thinking,
``ponder.think.steps``). Each of the ``budget.n`` simulations (AlphaZero, Silver et al.
2017, "Methods: search algorithm"):
1. select: from the root, descend to a leaf, at each node taking the child maximising
   PUCT = Q + c_puct * P * sqrt(N_parent) / (1 + N_child);
2. expand: a leaf seen once before gets ``children`` sampled next steps (duplicates
   merged), with priors P from the policy's step log-probs (softmax) or uniform; the
   search then steps into one of them by PUCT;
3. evaluate: the new node's value is the PRM's score of its prefix (``value="prm"``) or
   the score of one rollout to the end (``value="rollout"``: sampled at
   ``rollout_temperature``, judged by the outcome scorer: an ORM, a PRM through
   ``aggregate``, or the verifier as an oracle). A finished node with no answer is worth 0;
4. backup: add the value to every node on the path.
The answer follows the most visited path from the root (AlphaZero's move choice); if that
path ends before the solution does, it is completed greedily (temperature 0).

Departures: AlphaZero evaluates and expands a leaf at once; here a leaf is first only
evaluated and is expanded when the search comes back, so steps that are never revisited
cost no samples. An unvisited child's Q is its parent's mean value ("first-play
urgency"), not 0, since values here lie in [0, 1]. Snell et al. (2024) study beam and
lookahead search rather than MCTS; MCTS is here as the tree search that the reports on o1
compare to AlphaGo. ``Result.meta["tree"]`` keeps the whole tree (steps, visits, values)
for training on search data.

Options: ``children`` (samples per expansion), ``c_puct``, ``prior`` (logprob | uniform),
``value`` (prm | rollout), ``scorer`` and ``aggregate`` (how values are judged),
``rollout_temperature`` (default: the budget's), ``max_steps`` (tree depth; a node that
deep is finished in one sample).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

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
from ponder.think.scorers import aggregate, outcome_scorer, score, score_steps
from ponder.think.steps import Partial, derive_seed, extend, finish

DEFAULTS = {"children": 4, "c_puct": 1.0, "prior": "logprob", "value": "prm", "scorer": None,
            "aggregate": "last", "rollout_temperature": None, "max_steps": 40}


def puct(q: float, prior: float, parent_visits: int, visits: int, c: float) -> float:
    """AlphaZero's selection score of a child.

    >>> puct(0.5, 0.25, 16, 3, 1.0)
    0.75
    """
    return q + c * prior * math.sqrt(parent_visits) / (1 + visits)


def select(qs: list[float | None], priors: list[float], visits: list[int], c: float,
           fpu: float) -> int:
    """Index of the child to descend into; unvisited children (q None) count as ``fpu``.

    >>> select([0.9, None], [0.5, 0.5], [1, 0], 1.0, fpu=0.9)
    1
    >>> select([0.9, None], [0.5, 0.5], [1, 0], 1.0, fpu=0.0)
    0
    """
    parent = max(1, sum(visits))  # sqrt(0) would ignore the priors on the first visit
    scores = [puct(fpu if q is None else q, p, parent, n, c)
              for q, p, n in zip(qs, priors, visits, strict=True)]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def priors_of(logprobs: list[float], kind: str) -> list[float]:
    """Prior over distinct next steps: softmax of their log-probs, or uniform.

    >>> [round(p, 3) for p in priors_of([math.log(3), 0.0], "logprob")]
    [0.75, 0.25]
    >>> priors_of([-5.0, -1.0], "uniform")
    [0.5, 0.5]
    """
    if kind == "uniform":
        return [1 / len(logprobs)] * len(logprobs)
    top = max(logprobs)
    w = [math.exp(x - top) for x in logprobs]
    return [x / sum(w) for x in w]


@dataclass(eq=False)
class Node:
    part: Partial
    prior: float = 1.0
    depth: int = 0
    visits: int = 0
    value_sum: float = 0.0
    value: float | None = None  # this node's own evaluation (cached)
    children: list[Node] = field(default_factory=list)

    @property
    def q(self) -> float | None:
        return self.value_sum / self.visits if self.visits else None


def tree_dict(node: Node, parent_text: str = "") -> dict[str, Any]:
    """The tree as nested JSON-able dicts: each node's step, visits, Q and own value."""
    return {"step": node.part.text[len(parent_text):], "done": node.part.done,
            "visits": node.visits, "q": node.q, "value": node.value, "prior": node.prior,
            "children": [tree_dict(c, node.part.text) for c in node.children]}


def _check(opts: dict) -> None:
    for key, lo in (("children", 1), ("max_steps", 1)):
        if not isinstance(opts[key], int) or opts[key] < lo:
            raise ConfigError(f"mcts: option {key} must be an integer >= {lo}, "
                              f"got {opts[key]!r}")
    if not isinstance(opts["c_puct"], int | float) or opts["c_puct"] < 0:
        raise ConfigError(f"mcts: c_puct must be a number >= 0, got {opts['c_puct']!r}")
    for key, allowed in (("prior", ("logprob", "uniform")), ("value", ("prm", "rollout"))):
        if opts[key] not in allowed:
            raise ConfigError(f"mcts: option {key} must be one of {allowed}, "
                              f"got {opts[key]!r}")
    aggregate([], opts["aggregate"])


class _Search:
    """One tree search; holds what every phase needs."""

    def __init__(self, problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None,
                 opts: dict, seed: int):
        self.lm, self.budget, self.opts, self.seed = lm, budget, opts, seed
        self.prompt = prompt_of(lm, problem)
        self.rule = answer_rule_of(problem)
        self.compute = Compute()
        self.rollouts: list[Partial] = []
        if opts["value"] == "prm":
            if scorers is None or scorers.prm is None:
                raise ConfigError("mcts with value='prm' needs Scorers(prm=...); "
                                  "use value='rollout' to judge rollouts with an ORM/verifier")
            self.prm = scorers.prm
        else:
            self.outcome = outcome_scorer(scorers, problem, opts["scorer"], opts["aggregate"],
                                          "mcts")

    def expand(self, node: Node, k: int) -> None:
        seed = derive_seed(self.seed, "expand", k)
        if node.depth >= self.opts["max_steps"]:
            kids = finish(self.lm, self.prompt, [node.part], self.budget, self.compute, seed,
                          self.budget.temperature)
        else:
            [kids] = extend(self.lm, self.prompt, [node.part], self.opts["children"],
                            self.budget, self.compute, seed)
        distinct: dict[str, Partial] = {}  # the same step sampled twice is one child
        for p in kids:
            distinct.setdefault(p.text, p)
        kids = list(distinct.values())
        priors = priors_of([p.logprob for p in kids], self.opts["prior"])
        node.children = [Node(p, pr, node.depth + 1)
                         for p, pr in zip(kids, priors, strict=True)]

    def evaluate(self, node: Node, k: int) -> float:
        part = node.part
        if self.opts["value"] == "rollout" and not part.done:
            temp = self.opts["rollout_temperature"]
            [part] = finish(self.lm, self.prompt, [part], self.budget, self.compute,
                            derive_seed(self.seed, "rollout", k),
                            self.budget.temperature if temp is None else temp)
            self.rollouts.append(part)
        if part.done and answer_of(part.text, self.rule) is None:
            return 0.0
        if self.opts["value"] == "rollout":
            return score(self.outcome, self.lm, [self.prompt], [part.text], self.compute)[0]
        [steps] = score_steps(self.prm, self.lm, [self.prompt], [part.text], self.compute)
        return aggregate(steps, self.opts["aggregate"])

    def simulate(self, root: Node, k: int) -> None:
        node, path = root, [root]
        while True:
            if not node.children and not node.part.done and node.visits > 0:
                self.expand(node, k)
            if not node.children:
                break
            kids = node.children
            i = select([c.q for c in kids], [c.prior for c in kids], [c.visits for c in kids],
                       self.opts["c_puct"], fpu=node.q or 0.0)
            node = kids[i]
            path.append(node)
        if node.value is None:
            node.value = self.evaluate(node, k)
        for n in path:
            n.visits += 1
            n.value_sum += node.value


def mcts(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
         seed: int = 0) -> Result:
    opts = read_options(budget, "mcts", DEFAULTS)
    _check(opts)
    t0 = time.perf_counter()
    s = _Search(problem, lm, budget, scorers, opts, seed)
    root = Node(Partial())
    s.expand(root, -1)  # the root is never evaluated: every simulation ends below it
    for k in range(budget.n):
        s.simulate(root, k)
    node = root
    while node.children:  # most visited path; ties go to the higher Q, then the earlier
        node = max(node.children, key=lambda c: (c.visits, c.q or 0.0))
    [final] = finish(lm, s.prompt, [node.part], budget, s.compute,
                     derive_seed(seed, "final"), 0.0)
    rule = s.rule
    leaves, stack = [], [root]
    while stack:
        n = stack.pop()
        stack += n.children
        if n.part.done:
            leaves.append(Trace(n.part.text, answer_of(n.part.text, rule), n.value,
                                n.part.tokens, {"visits": n.visits}))
    traces = leaves + [Trace(p.text, answer_of(p.text, rule), None, p.tokens, {"rollout": True})
                       for p in s.rollouts]
    if not node.part.done:
        traces.append(Trace(final.text, answer_of(final.text, rule), None, final.tokens,
                            {"greedy_completion": True}))
    s.compute.wall_time = time.perf_counter() - t0
    return Result(answer_of(final.text, rule), final.text, traces, s.compute,
                  meta={"tree": tree_dict(root), **opts})
