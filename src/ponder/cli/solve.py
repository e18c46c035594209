"""``ponder solve``: answer one problem, showing the chain of thought.

The answer comes from a strategy of ``ponder.think`` (greedy unless told otherwise), or
from an effort level mapped onto one exactly as the server maps ``reasoning_effort``
(``ponder.serve.effort``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from ponder.cli._common import MODEL_HELP
from ponder.errors import ConfigError, InvalidInput, UnknownName
from ponder.eval.accuracy import check_direct, judge
from ponder.lm.base import LM
from ponder.lm.registry import load_lm
from ponder.lm.template import prompt_for, split_thinking
from ponder.tasks import get_task
from ponder.tasks.base import Problem
from ponder.verify.answers import extract_answer

if TYPE_CHECKING:
    from ponder.think import Result

MIN_ROOM = 16  # tokens a prompt must leave free for thinking and the answer line
SAMPLES = 8  # samples (or search budget N) of a --strategy given without --n
TEMPERATURE = 0.8  # sampling temperature of a --strategy given without --temperature


def check_prompt(lm: LM, prompt: str) -> int:
    """Tokens in ``prompt``; InvalidInput when the model cannot read it or has no room left
    to answer (characters outside its vocabulary raise from ``count_tokens``)."""
    n = lm.count_tokens(prompt)
    if n + MIN_ROOM > lm.max_context:
        raise InvalidInput(f"the question is {n} tokens long; this model reads at most "
                           f"{lm.max_context - MIN_ROOM} (its context is {lm.max_context} "
                           "tokens); shorten the question")
    return n


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``--option key=value`` pairs as a strategy's options; a value is read as JSON when
    it is JSON (numbers, true/false, lists), else kept as text (a path, a name).

    >>> parse_options(["beam_width=4", "weighted=true", "policy=reports/p.json"])
    {'beam_width': 4, 'weighted': True, 'policy': 'reports/p.json'}
    """
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--option takes key=value, e.g. beam_width=4; got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def check_choice(strategy: str | None, effort: str | None, n: int | None = None,
                 temperature: float | None = None,
                 options: dict[str, Any] | None = None) -> None:
    """Raise before any model is loaded when the strategy or effort is unknown, or when
    both an effort and what it would decide are given."""
    from ponder.think import get_strategy

    if effort is None:
        get_strategy(strategy or "greedy")  # raises UnknownName listing the strategies
        return
    if strategy is not None or n is not None or temperature is not None or options:
        raise ConfigError("--effort picks the strategy and its samples; drop --strategy, "
                          "--n, --temperature and --option, or drop --effort")
    from ponder.serve.effort import EFFORTS

    if effort not in EFFORTS:
        raise UnknownName("effort", effort, EFFORTS)


def run_strategy(lm: LM, problem: Problem, *, strategy: str | None = None,
                 effort: str | None = None, n: int | None = None,
                 temperature: float | None = None, options: dict[str, Any] | None = None,
                 max_tokens: int = 1024, seed: int = 0) -> tuple[Result, str]:
    """Answer ``problem`` through ``ponder.think``: at ``effort`` as the server plans it,
    else by ``strategy`` (default greedy) with ``n`` samples at ``temperature`` and its
    ``options``. Each completion is capped at ``max_tokens`` and the room the context
    leaves. Returns the strategy's Result and a label of what ran."""
    from ponder.think import Budget, get_strategy
    from ponder.think.base import prompt_of

    check_choice(strategy, effort, n, temperature, options)
    room = lm.max_context - check_prompt(lm, prompt_of(lm, problem))
    max_tokens = min(max_tokens, room)
    if effort is not None:
        from ponder.serve.effort import EffortPolicy  # the server's own levels

        thought = EffortPolicy().think(problem, lm, effort, max_tokens=max_tokens, seed=seed)
        return thought.result, f"effort {effort} ({thought.effort_used}): {thought.strategy}"
    strategy = strategy or "greedy"
    budget = Budget(n=SAMPLES if n is None else n, max_tokens=max_tokens,
                    temperature=TEMPERATURE if temperature is None else temperature,
                    options=dict(options or {}))
    return get_strategy(strategy)(problem, lm, budget, None, seed), strategy


def solve_text(lm: LM, question: str, direct: bool = False, max_tokens: int = 1024,
               seed: int = 0) -> str:
    """The model's greedy completion of ``question``: its chain of thought (the ``greedy``
    strategy), or with ``direct`` the answer line alone."""
    if not direct:
        result, _ = run_strategy(lm, question_problem(question), max_tokens=max_tokens, seed=seed)
        return result.completion
    # no strategy writes direct answers: this is the one call outside ponder.think
    prompt = prompt_for(lm, question, think=False)
    n = check_prompt(lm, prompt)
    [[c]] = lm.generate([prompt], n=1, max_tokens=min(max_tokens, lm.max_context - n),
                        temperature=0.0, seed=seed)
    return c.text


def question_problem(question: str) -> Problem:
    """A free-text question as a Problem of no task (answers read leniently)."""
    return Problem(id="question", task="solve", prompt=question, answer="", difficulty=0)


def describe(result: Result, label: str) -> str:
    """One line on what a strategy spent."""
    c = result.compute
    return (f"{label}: {c.samples} sample{'s' * (c.samples != 1)}, "
            f"{c.generated_tokens} tokens generated")


def show(console: Console, question: str, completion: str, hide_thoughts: bool = False,
         direct: bool = False, problem: Problem | None = None,
         verdict: float | None = None) -> None:
    """Question, thinking (unless hidden), answer and, for a task problem, the check."""
    # a direct completion is the answer line itself; otherwise the answer is what
    # follows the closing marker (none if the thinking never finished)
    thinking, visible = ("", completion) if direct else split_thinking(completion)
    answer = extract_answer(visible) if visible else None
    if not hide_thoughts:
        console.print(Text("question: ", style="bold") + Text(question))
        console.print(Text("thinking:", style="bold"))
        for line in thinking.splitlines() or ["(none)"]:
            console.print(Text(f"  {line}", style="dim"))
    console.print(Text("answer: ", style="bold") + Text(answer if answer is not None
                                                        else "(no answer)"))
    if problem is not None:
        ok = verdict == 1.0  # partial credit is a score, not a verified answer
        partial = f", partial score {verdict:.2f}" if verdict and not ok else ""
        console.print(Text("verified: ", style="bold")
                      + Text("yes" if ok else "no", style="green" if ok else "red")
                      + Text(f" (expected {problem.answer}{partial})"))


def register(app: typer.Typer) -> None:
    @app.command()
    def solve(
        question: str | None = typer.Argument(None, help="The problem text."),
        model: str | None = typer.Option(None, "--model", "-m", help=MODEL_HELP),
        task: str | None = typer.Option(None, "--task", help="Draw a held-out problem of "
                                        "this task instead of reading QUESTION."),
        difficulty: int | None = typer.Option(None, "--difficulty", "-d",
                                              help="Level of the drawn problem."),
        seed: int = typer.Option(0, "--seed", help="Which held-out problem to draw; also "
                                 "seeds the sampling."),
        hide_thoughts: bool = typer.Option(False, "--hide-thoughts",
                                           help="Print only the answer."),
        direct: bool = typer.Option(False, "--direct",
                                    help="Ask for the answer with no chain of thought."),
        max_tokens: int = typer.Option(1024, "--max-tokens", min=1,
                                       help="Cap on the tokens the model writes (per "
                                       "completion)."),
        strategy: str | None = typer.Option(None, "--strategy", "-s",
                                            help="Test-time strategy of ponder.think "
                                            "(greedy, vote, best_of_n, beam, mcts, revise, "
                                            "budget, ...); default greedy."),
        effort: str | None = typer.Option(None, "--effort", "-e",
                                          help="low, medium, high or auto: think as the "
                                          "server does at that reasoning_effort."),
        n: int | None = typer.Option(None, "--n", min=1,
                                     help=f"Samples (or search budget N) of --strategy "
                                     f"(default {SAMPLES})."),
        temperature: float | None = typer.Option(None, "--temperature", min=0.0,
                                                 help="Sampling temperature of --strategy "
                                                 f"(default {TEMPERATURE})."),
        option: list[str] | None = typer.Option(None, "--option", "-o",
                                                help="A strategy option as key=value "
                                                "(repeatable), e.g. -o beam_width=4."),
    ) -> None:
        """Solve one problem with the model's chain of thought (greedy by default).

        Give the problem text, or --task (and --difficulty, --seed) to draw a held-out
        problem and check the answer. --strategy runs any test-time strategy with its
        --n, --temperature and --option settings; --effort instead thinks as the server
        does at that reasoning_effort.
        """
        options = parse_options(option)
        if direct and (strategy or effort):
            raise ConfigError("--direct answers in one greedy call, without a chain of "
                              "thought; drop --strategy / --effort, or drop --direct")
        check_choice(strategy, effort, n, temperature, options)
        if (question is None) == (task is None):
            raise InvalidInput("give either a QUESTION or --task to draw one, not both")
        if task is None and difficulty is not None:
            raise InvalidInput("--difficulty goes with --task")
        problem, t = None, None
        if task is not None:
            t = get_task(task)
            check_direct(t, direct)
            if difficulty is not None:
                t.check_difficulty(difficulty)
            drawn = t.problems("test", 1, seed=seed, difficulty=difficulty)
            if not drawn:
                raise InvalidInput(f"{task}: no held-out problem at difficulty {difficulty}")
            problem = drawn[0]
            question = problem.prompt
        if not question.strip():
            raise InvalidInput("the question is empty")
        lm = load_lm(model)
        if direct:
            completion = solve_text(lm, question, True, max_tokens, seed)
        else:
            result, label = run_strategy(lm, problem or question_problem(question),
                                         strategy=strategy, effort=effort, n=n,
                                         temperature=temperature, options=options or None,
                                         max_tokens=max_tokens, seed=seed)
            completion = result.completion
        verdict = judge(t, problem, completion, not direct) if t and problem else None
        console = Console()
        show(console, question, completion, hide_thoughts, direct, problem, verdict)
        if (strategy or effort) and not hide_thoughts:
            console.print(Text(describe(result, label), style="dim"))
