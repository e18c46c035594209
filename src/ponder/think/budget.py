"""Budget forcing (s1; Muennighoff et al. 2025, §3.1): control how long the model thinks.

- Cap (``think_tokens``): the thinking may use at most that many tokens. When they are
  spent before the model closes its thinking, the end of thinking is forced by appending
  ``"\\n</think>\\nAnswer:"`` and the model writes the answer (s1 appends the
  end-of-thinking delimiter and "Final Answer:").
- Extend (``extend`` = k): when the model closes its thinking, the closing marker is
  removed and "Wait" appended, so it goes on thinking; up to k times. s1 found this makes
  the model re-check its work and scales accuracy with thinking tokens (their Figure 3).

Thinking tokens are counted with the policy's tokenizer over the thinking text, the
appended "Wait"s included, so the thinking never exceeds the cap: the closing marker
must fit in it too (else the end is forced), and when a "Wait" would not fit, the thinking
is closed instead. With ``budget.n`` > 1, that many chains are forced
independently and the answer is their majority (s1 studies one chain, greedily decoded:
set temperature 0 to match). The answer gets ``answer_tokens`` more tokens; when
``think_tokens`` is unset the cap is ``max_tokens - answer_tokens``, and when it is set it
takes the place of ``max_tokens`` (a thinking-budget sweep may go past it).

Options: ``think_tokens`` (int >= 1 or None), ``extend`` (int >= 0), ``answer_tokens``.
"""

from __future__ import annotations

import time

from ponder.errors import ConfigError
from ponder.lm.base import LM
from ponder.lm.template import THINK_CLOSE
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
from ponder.think.scorers import choose
from ponder.think.steps import derive_seed, sample_each

WAIT = "Wait"
FORCE_END = f"\n{THINK_CLOSE}\nAnswer:"
DEFAULTS = {"think_tokens": None, "extend": 0, "answer_tokens": 32}
#: what a compute budget sets for this strategy (``ponder.think.sized_budget``): the
#: thinking-token cap, not the number of chains
BUDGET_OPTION = "think_tokens"


def with_wait(thinking: str) -> str:
    """The thinking with "Wait" appended on a line of its own.

    >>> with_wait("3+4=7\\n"), with_wait("3+4=7")
    ('3+4=7\\nWait', '3+4=7\\nWait')
    """
    return f"{thinking}{'' if not thinking or thinking.endswith(chr(10)) else chr(10)}{WAIT}"


def force_end(thinking: str) -> str:
    """The thinking cut off and closed, ready for the answer.

    >>> force_end("3+4=7\\n5*"), force_end("3+4=7\\n")
    ('3+4=7\\n5*\\n</think>\\nAnswer:', '3+4=7\\n</think>\\nAnswer:')
    """
    return thinking.removesuffix("\n") + FORCE_END


def _check(opts: dict, budget: Budget) -> int:
    for key, lo in (("extend", 0), ("answer_tokens", 1)):
        if not isinstance(opts[key], int) or opts[key] < lo:
            raise ConfigError(f"budget: option {key} must be an integer >= {lo}, "
                              f"got {opts[key]!r}")
    cap = opts["think_tokens"]
    if cap is None:
        cap = budget.max_tokens - opts["answer_tokens"]
        if cap < 1:
            raise ConfigError(f"budget: max_tokens={budget.max_tokens} leaves no thinking "
                              f"tokens after answer_tokens={opts['answer_tokens']}")
    if not isinstance(cap, int) or cap < 1:
        raise ConfigError(f"budget: think_tokens must be an integer >= 1, got {cap!r}")
    return cap


def budget_forcing(problem: Problem, lm: LM, budget: Budget, scorers: Scorers | None = None,
                   seed: int = 0) -> Result:
    opts = read_options(budget, "budget", DEFAULTS)
    cap = _check(opts, budget)
    rule = answer_rule_of(problem)
    t0 = time.perf_counter()
    prompt, n = prompt_of(lm, problem), budget.n
    compute = Compute()
    thinking, waits, generated = [""] * n, [0] * n, [0] * n
    state = ["thinking"] * n  # -> "closed" (by the model) or "forced" (by the cap)
    for r in range(opts["extend"] + 1):  # each round closes, forces or extends each chain
        live = [i for i in range(n) if state[i] == "thinking"]
        if not live:
            break
        left = [cap - lm.count_tokens(thinking[i]) for i in live]
        outs = sample_each(lm, [prompt + thinking[i] for i in live], budget, compute,
                           derive_seed(seed, "think", r), max_tokens=left, stop=[THINK_CLOSE])
        for i, c in zip(live, outs, strict=True):
            closed = c.finish_reason == "stop" and c.text.endswith(THINK_CLOSE)
            thinking[i] += c.text.removesuffix(THINK_CLOSE) if closed else c.text
            generated[i] += c.tokens
            if not closed:  # out of tokens, or the model stopped without closing
                state[i] = "forced"
            elif waits[i] < opts["extend"] and lm.count_tokens(with_wait(thinking[i])) < cap:
                thinking[i], waits[i] = with_wait(thinking[i]), waits[i] + 1
            else:
                state[i] = "closed"
    heads = [thinking[i] + THINK_CLOSE if state[i] == "closed" else force_end(thinking[i])
             for i in range(n)]
    outs = sample_each(lm, [prompt + h for h in heads], budget, compute,
                       derive_seed(seed, "answer"), max_tokens=opts["answer_tokens"])
    traces = [Trace(h + c.text, answer_of(h + c.text, rule), tokens=g + c.tokens,
                    meta={"thinking_tokens": lm.count_tokens(t), "waits": w,
                          "forced": s == "forced"})
              for h, c, t, w, s, g in zip(heads, outs, thinking, waits, state, generated,
                                          strict=True)]
    i = choose([t.answer for t in traces], None, "vote")
    chosen = traces[i] if i is not None else traces[0]
    compute.wall_time = time.perf_counter() - t0
    return Result(chosen.answer, chosen.completion, traces, compute,
                  meta={**opts, "think_cap": cap})
