"""``ponder solve``: answer one problem, showing the chain of thought."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from ponder.cli._common import MODEL_HELP, open_model
from ponder.errors import InvalidInput
from ponder.eval.accuracy import check_direct, judge
from ponder.lm.base import LM
from ponder.lm.template import format_prompt, split_thinking
from ponder.tasks import get_task
from ponder.tasks.base import Problem
from ponder.verify.answers import extract_answer

MIN_ROOM = 16  # tokens a prompt must leave free for thinking and the answer line


def check_prompt(lm: LM, prompt: str) -> int:
    """Tokens in ``prompt``; InvalidInput when the model cannot read it or has no room left
    to answer (characters outside its vocabulary raise from ``count_tokens``)."""
    n = lm.count_tokens(prompt)
    if n + MIN_ROOM > lm.max_context:
        raise InvalidInput(f"the question is {n} tokens long; this model reads at most "
                           f"{lm.max_context - MIN_ROOM} (its context is {lm.max_context} "
                           "tokens); shorten the question")
    return n


def solve_text(lm: LM, question: str, direct: bool = False, max_tokens: int = 1024,
               seed: int = 0) -> str:
    """The model's greedy completion of ``question``."""
    prompt = format_prompt(question, think=not direct)
    n = check_prompt(lm, prompt)
    [[c]] = lm.generate([prompt], n=1, max_tokens=min(max_tokens, lm.max_context - n),
                        temperature=0.0, seed=seed)
    return c.text


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
        seed: int = typer.Option(0, "--seed", help="Which held-out problem to draw."),
        hide_thoughts: bool = typer.Option(False, "--hide-thoughts",
                                           help="Print only the answer."),
        direct: bool = typer.Option(False, "--direct",
                                    help="Ask for the answer with no chain of thought."),
        max_tokens: int = typer.Option(1024, "--max-tokens", min=1,
                                       help="Cap on the tokens the model writes."),
    ) -> None:
        """Solve one problem with the model's chain of thought (greedy).

        Give the problem text, or --task (and --difficulty, --seed) to draw a held-out
        problem and check the answer.
        """
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
        lm = open_model(model)
        completion = solve_text(lm, question, direct, max_tokens, seed)
        verdict = judge(t, problem, completion, not direct) if t and problem else None
        show(Console(), question, completion, hide_thoughts, direct, problem, verdict)
