"""Helpers the commands share: the --model help, the command line, parsing integer and
difficulty lists, and the accuracy table. Models are opened by
``ponder.lm.registry.load_lm`` everywhere."""

from __future__ import annotations

import shlex

import typer
from rich.table import Table

from ponder.errors import InvalidInput
from ponder.eval.accuracy import AccuracyReport
from ponder.eval.stats import format_ci, wilson

KV_DTYPE_HELP = ("Key/value cache type of ponder's own models: float32, or bfloat16 (half "
                 "the bytes, faster decoding at large batches; greedy text may change)")


COMPILE_HELP = ("Compile ponder's own models' decoding step with torch.compile (about a "
                "minute, needs a C++ compiler): 1.16x at 64 rows, no faster at 1-16 "
                "on the bundled model")


def kv_options(kv_dtype: str, compile: bool = False) -> dict[str, str | bool]:
    """``load_lm`` keywords for ``--kv-dtype`` and ``--compile`` (none for the
    defaults)."""
    out: dict[str, str | bool] = {} if kv_dtype == "float32" else {"kv_dtype": kv_dtype}
    if compile:
        out["compile"] = True
    return out


MODEL_HELP = ("Model: a checkpoint directory or training run (runs/x), hf:PATH, vllm:PATH or "
              "an http(s) URL#MODEL; default: the bundled reasoner.")


def command_line(ctx: typer.Context) -> str:
    """The running command as a shell line, rebuilt from its parsed options (defaults
    left out), for the records a command writes."""
    words = ctx.command_path.split()
    words[0] = "ponder"  # whatever the program was called as
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default:
            continue
        if param.param_type_name == "argument":
            words.append(str(value))
        elif value is True and getattr(param, "is_flag", False):
            words.append(param.opts[0])
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


def parse_ints(spec: str, what: str, minimum: int | None = None) -> list[int]:
    """``"1,4,16"`` -> [1, 4, 16], or a clear error naming the option ``what``.

    >>> parse_ints("1,4,16", "--budgets")
    [1, 4, 16]
    """
    try:
        out = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"{what} takes comma-separated integers, got {spec!r}") from None
    if not out or (minimum is not None and min(out) < minimum):
        floor = "" if minimum is None else f" >= {minimum}"
        raise InvalidInput(f"{what} needs integers{floor}, got {spec!r}")
    return out


def parse_levels(spec: str | None) -> list[int] | None:
    """``"1,3,5-7"`` -> [1, 3, 5, 6, 7]; None -> None (every level).

    >>> parse_levels("1,3,5-7")
    [1, 3, 5, 6, 7]
    """
    if spec is None or not spec.strip():
        return None
    levels: list[int] = []
    try:
        for part in spec.split(","):
            lo, sep, hi = part.strip().partition("-")
            levels.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise InvalidInput(f"--difficulty takes levels such as 3 or 1,2,5-8; got {spec!r}"
                           ) from None
    return levels


def accuracy_table(reports: dict[str, AccuracyReport], title: str) -> Table:
    """One row per (task, difficulty) and a total row per task: accuracy with its 95%
    interval, and the mean partial-credit score of tasks that give one."""
    partial = any(r.score is not None for r in reports.values())
    table = Table("task", "difficulty", "n", "accuracy [95% CI]",
                  *(["score"] if partial else []), title=title)
    for name, r in reports.items():
        scores = r.score_by_difficulty or {}
        for level, acc in r.by_difficulty.items():
            n = r.n_by_difficulty[level]
            ci = r.ci95_by_difficulty.get(level) or wilson(round(acc * n), n)
            extra = [f"{scores[level]:.3f}" if level in scores else ""] if partial else []
            table.add_row(name, level, str(n), format_ci(acc, ci), *extra)
        extra = [f"[bold]{r.score:.3f}" if r.score is not None else ""] if partial else []
        table.add_row(f"[bold]{name}", "[bold]all", f"[bold]{r.n}",
                      f"[bold]{format_ci(r.accuracy, r.ci95)}", *extra, end_section=True)
    return table
