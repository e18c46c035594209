"""Whether a countdown search re-tries what it has already tried: for each `ponder eval
--task countdown --records` result given, per level, the share of completions that
write an answer line, and the share that try the same operation on the same numbers
twice (a ``back:`` to a state, then a move the search had already made from it), split
by whether the completion answered; how many numbers the first try lists as left; and,
where the file says which problems it holds (split, n, seed, levels), the share with a
line the task's step checker rejects. A depth-first search that revisits a tried branch
can loop until its token cap; this tells such loops from searches that end and answer
wrong, and shows what they follow.

The search trace (style "search", ``ponder.tasks.countdown``) writes each try as
``8*5=40<41: 40 3 2`` (the move, its comparison with the target, and the numbers left)
and a return as ``back: 40 3 2`` (``back: 40 3 2; 40+2`` in style "after", which names
the move last tried from there). A try applies to the numbers the line above left
(the prompt's, before the first line); numbers are compared as a multiset.

    python recipes/countdown_loops.py reports/ablation_countdown3/fine_countdown.json \\
        reports/bundled_countdown/bundled_countdown.json --out reports/countdown_loops.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ponder.eval.report import atomic_write_json
from ponder.eval.stats import wilson
from ponder.lm.template import split_thinking
from ponder.tasks import get_task
from ponder.tasks.countdown import ANSWER_LINE, BACK_LINE, OP_LINE


def numbers(text: str) -> tuple[int, ...]:
    return tuple(sorted(int(x) for x in text.split()))


def _before(x: int, y: int, left: tuple[int, ...], result: int) -> tuple[int, ...] | None:
    """The numbers a try ``x op y = result`` was made from: those it left, less its
    result, plus its two operands (None where the line does not add up)."""
    rest = list(left)
    if result not in rest:
        return None
    rest.remove(result)
    return tuple(sorted([*rest, x, y]))


def repeated_tries(completion: str) -> int:
    """Tries that repeat one the search already made from the same node: the trace is
    read as a depth-first search, a stack of nodes (the numbers at hand, the moves
    tried from them); a try is made from the top node and pushes the node it leads to,
    and ``back: NUMBERS`` pops back to the nearest node holding those numbers. The same
    numbers reached by another path are a new node, as in the teacher's search, which
    keeps no table of states seen."""
    stack: list[tuple[tuple[int, ...] | None, set[str]]] = [(None, set())]
    repeats = 0
    for line in lines_of(completion):
        back = BACK_LINE.fullmatch(line.strip())
        if back:
            state = numbers(back.group(1))
            while len(stack) > 1 and stack[-1][0] != state:
                stack.pop()
            if stack[-1][0] is None:  # the root: the prompt's numbers, not yet known
                stack[-1] = (state, stack[-1][1])
            continue
        got = OP_LINE.fullmatch(line.strip())
        if not got:
            continue
        move, left = f"{int(got[1])}{got[2]}{int(got[3])}", numbers(got[7])
        if stack[-1][0] is None:
            stack[-1] = (_before(int(got[1]), int(got[3]), left, int(got[4])), stack[-1][1])
        tried = stack[-1][1]
        repeats += move in tried
        tried.add(move)
        stack.append((left, set()))
    return repeats


def lines_of(completion: str) -> list[str]:
    """The search's lines: the thinking, less blank lines and an answer line."""
    return [x for x in split_thinking(completion)[0].split("\n")
            if x.strip() and not ANSWER_LINE.match(x)]


def first_left(completion: str) -> int | None:
    """How many numbers the first try lists as left (None: no try)."""
    for line in lines_of(completion):
        got = OP_LINE.fullmatch(line.strip())
        if got:
            return len(got[7].split())
    return None


def answered(completion: str) -> bool:
    return bool(ANSWER_LINE.search(completion))


def share(k: int, n: int) -> dict:
    return {"count": k, "n": n, "share": k / n if n else None, "ci95": list(wilson(k, n))}


def loops(records: list[dict], problems: dict | None = None) -> dict[str, dict]:
    """Per level: accuracy, answered share, and the shares with a repeated try overall,
    among answered and among unanswered completions, each with its 95% interval; with
    the ``problems`` (by id), also the share with a line the task's step checker
    rejects (a wrong result, a number not at hand, a wrong comparison)."""
    task = get_task("countdown")
    out: dict[str, dict] = {}
    for level in sorted({int(r["difficulty"]) for r in records}):
        rows = [r for r in records if int(r["difficulty"]) == level]
        said = [r for r in rows if answered(r["completion"])]
        silent = [r for r in rows if not answered(r["completion"])]

        def looped(rs: list[dict]) -> int:
            return sum(repeated_tries(r["completion"]) > 0 for r in rs)

        out[str(level)] = {
            "accuracy": share(sum(bool(r["correct"]) for r in rows), len(rows)),
            "answered": share(len(said), len(rows)),
            "repeated_try": share(looped(rows), len(rows)),
            "repeated_try_answered": share(looped(said), len(said)),
            "repeated_try_unanswered": share(looped(silent), len(silent)),
            # the prompt's numbers less one: 2 at levels 1-2, 3 at levels 3-4, 4 at 5-6
            "first_try_left": dict(sorted(Counter(
                str(first_left(r["completion"])) for r in rows).items())),
        }
        if problems is not None:
            wrong = sum(not all(task.check_steps(problems[r["id"]], lines_of(r["completion"])))
                        for r in rows)
            out[str(level)]["wrong_line"] = share(wrong, len(rows))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("evals", nargs="+", type=Path, help="`ponder eval --records` JSON files")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    result: dict = {"command": "python recipes/countdown_loops.py "
                    + " ".join(sys.argv[1:] if argv is None else argv), "files": {}}
    for path in args.evals:
        if not path.exists():
            sys.exit(f"no such file: {path}")
        data = json.loads(path.read_text())
        if not data.get("records"):
            sys.exit(f"{path} holds no records: run `ponder eval` with --records")
        # the evaluated problems again, from the evaluation's own split, n, seed and levels
        problems = None
        if {"split", "n", "seed", "difficulty"} <= data.keys():
            problems = {p.id: p for p in get_task("countdown").problems(
                data["split"], data["n"], seed=data["seed"], difficulty=data["difficulty"])}
            if not all(r["id"] in problems for r in data["records"]):
                sys.exit(f"{path}: its problems could not be drawn again")
        levels = loops(data["records"], problems)
        result["files"][str(path)] = {"model_sha256": data.get("model_sha256"),
                                      "levels": levels}
        for level, row in levels.items():
            print(f"{path} level {level}: accuracy {row['accuracy']['share']:.3f}, "
                  f"answered {row['answered']['share']:.3f}, a try repeated in "
                  f"{row['repeated_try']['share']:.3f} (unanswered: "
                  f"{row['repeated_try_unanswered']['count']} of "
                  f"{row['repeated_try_unanswered']['n']})"
                  + (f", a wrong line in {row['wrong_line']['share']:.3f}"
                     if "wrong_line" in row else "")
                  + f"; numbers left by the first try {row['first_try_left']}")
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
