"""Reports: every measurement is written by the command that makes it to
``reports/<name>.json`` — the exact command line, model, split, seed and the numbers —
and ``ponder report`` regenerates ``reports/README.md`` from those files. Nothing in a
report is typed by hand."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from ponder.errors import InvalidInput
from ponder.eval.stats import format_ci, wilson
from ponder.lm.registry import weights_digest

REPORTS_DIR = Path(os.environ.get("PONDER_REPORTS", "reports"))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same directory + rename,
    so readers never see a half-written file and a crash never destroys the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None: strict JSON has no
    NaN, and readers other than Python's reject the bare token.

    >>> finite({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """``data`` as strict JSON (NaN and infinities written as null), atomically."""
    text = json.dumps(finite(data), indent=2, default=str, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def command_line() -> str:
    """The command that is running, as a user would type it."""
    prog = Path(sys.argv[0]).name
    prog = "ponder" if prog in ("ponder", "__main__.py") else sys.argv[0]
    return shlex.join([prog, *sys.argv[1:]])


def write_report(name: str, results: dict[str, Any], *, model: str | None = None,
                 split: str | None = "test", seed: int | None = None,
                 title: str | None = None, directory: str | Path | None = None) -> Path:
    """Write ``<directory>/<name>.json`` with provenance and the numbers."""
    record = {
        "name": name,
        "title": title or name,
        "command": command_line(),
        "model": model,
        "model_sha256": weights_digest(model) if model is not None else None,
        "split": split,
        "seed": seed,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": results,
    }
    return atomic_write_json(Path(directory or REPORTS_DIR) / f"{name}.json", record)


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What a report records of the machine that measured it."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_name(), "cpus": os.cpu_count()}


PROVENANCE = ("name", "title", "command", "model", "model_sha256", "split", "seed", "created",
              "machine", "records")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict | list):
        s = json.dumps(v, default=str)
        return s if len(s) <= 80 else s[:77] + "..."
    return str(v)


def _summary_rows(results: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple]:
    rows: list[tuple] = []
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 1 and len(v) <= 12:
            rows.extend(_summary_rows(v, f"{key}.", depth + 1))
        else:
            rows.append((key, _fmt(v)))
    return rows


def figures(directory: Path, name: str) -> list[Path]:
    """The plots of report ``name``: ``<name>.png`` and ``<name>.<anything>.png``, but not
    those of another report whose name merely starts with it (``<name>_hard.png``)."""
    return sorted(f for f in directory.glob("*.png")
                  if f.stem == name or f.stem.startswith(f"{name}."))


def render_readme(directory: str | Path | None = None) -> str:
    """Markdown summary of every ``*.json`` report in ``directory``."""
    d = Path(directory or REPORTS_DIR)
    parts = ["# Reports", "",
             "Generated by `ponder report` from the JSON files in this directory; each "
             "section names the command that produced it. Do not edit by hand.", ""]
    from ponder.eval.claims import EVIDENCE, evaluate_claims, render_table

    parts += render_table(evaluate_claims(d))
    for path in sorted(d.glob("*.json")):
        if path.name == EVIDENCE:  # the table above, as JSON
            continue
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError:
            parts += [f"## {path.stem}", "", f"(unreadable JSON in `{path.name}`)", ""]
            continue
        if isinstance(rec, dict) and "results" not in rec and "command" in rec:
            # a flat result file such as `ponder eval --json`: everything but provenance
            rec = {**rec, "results": {k: v for k, v in rec.items() if k not in PROVENANCE}}
        if not isinstance(rec, dict) or not isinstance(rec.get("results"), dict):
            continue  # not a report (e.g. a policy file kept next to them)
        parts += [f"## {rec.get('title') or path.stem}", "",
                  f"- command: `{rec.get('command')}`",
                  f"- model: `{rec.get('model')}` · split: {rec.get('split')} · "
                  f"seed: {rec.get('seed')} · created: {rec.get('created')}",
                  f"- file: [`{path.name}`]({path.name})", ""]
        for fig in figures(d, path.stem):
            parts += [f"![{fig.stem}]({fig.name})", ""]
        rows = _summary_rows(rec["results"])
        if rows:
            parts += ["| metric | value |", "|---|---|"]
            parts += [f"| {k} | {v} |" for k, v in rows[:60]]
            if len(rows) > 60:
                parts.append(f"| ... | {len(rows) - 60} more in the JSON file |")
            parts.append("")
    return "\n".join(parts)


def regenerate_readme(directory: str | Path | None = None) -> Path:
    """Write ``README.md`` (and the evidence table as ``evidence.json``, with a plot of
    each claim's paired differences, ``evidence_<claim>.png``) in ``directory``."""
    from ponder.eval.claims import EVIDENCE, evaluate_claims, figure_name, plot_differences

    d = Path(directory or REPORTS_DIR)
    rows = evaluate_claims(d)
    for row in rows:  # a forest plot per claim, linked from the table
        if plot_differences(row, d / figure_name(row["key"])):
            row["differences"] = figure_name(row["key"])
    atomic_write_text(d / EVIDENCE, json.dumps({"claims": rows}, indent=1,
                                               default=str) + "\n")
    return atomic_write_text(d / "README.md", render_readme(d))


# -- the accuracy table in the project README ---------------------------------------------

EVAL_PREFIX = "default_eval_"


def _ci95(rec_ci: Any, accuracy: float, n: int | None) -> list[float] | None:
    """The interval a file records, else the Wilson interval rebuilt from the accuracy
    and n (files written before intervals were); None when n is unknown."""
    if rec_ci is not None:
        return list(rec_ci)
    return list(wilson(round(accuracy * n), n)) if n else None


def _accuracy_cells(rec: dict[str, Any]) -> tuple[str, str]:
    """(overall, per level) cells of one eval file: ``0.912 [0.884, 0.934] (n=500)`` and
    ``1: 0.98 [0.95,0.99] 2: ...``; a level without a known n shows its accuracy only."""
    overall = format_ci(rec["accuracy"], _ci95(rec.get("ci95"), rec["accuracy"], rec["n"]),
                        n=rec["n"])
    if rec.get("score") is not None:  # partial credit: a score, never an accuracy
        overall += f"; score {rec['score']:.3f}"
    cis, ns = rec.get("ci95_by_difficulty") or {}, rec.get("n_by_difficulty") or {}
    levels = []
    for k, v in sorted(rec["by_difficulty"].items(), key=lambda kv: float(kv[0])):
        ci = _ci95(cis.get(k), v, ns.get(k))
        levels.append(f"{k}: " + (format_ci(v, ci, digits=2, compact=True) if ci
                                  else f"{v:.2f}"))
    return overall, " ".join(levels)


#: a level is at the edge of competence when the model is right sometimes, not always or
#: never: where test-time compute and RL have room to show gains
EDGE = (0.2, 0.8)


def edge_levels(by_difficulty: dict[str, float], band: tuple[float, float] = EDGE
                ) -> list[str]:
    """The levels whose accuracy lies within ``band``, easiest first.

    >>> edge_levels({"1": 1.0, "2": 0.7, "3": 0.25, "4": 0.1})
    ['2', '3']
    """
    lo, hi = band
    return [k for k, v in sorted(by_difficulty.items(), key=lambda kv: float(kv[0]))
            if lo <= v <= hi]


def _span(levels: Any) -> str:
    """A file's level list as text: ``[1, 2, 3]`` -> ``1-3``, ``[2, 5]`` -> ``2,5``."""
    if isinstance(levels, str):
        return levels
    nums = sorted(int(v) for v in levels)
    if len(nums) > 1 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"{nums[0]}-{nums[-1]}"
    return ",".join(map(str, nums))


def accuracy_table(directory: str | Path | None = None, prefix: str = EVAL_PREFIX) -> str:
    """Markdown table of every ``<prefix><task>[_direct].json`` written by ``ponder eval
    --json``: accuracy per task, chain of thought and direct, and per difficulty level,
    each with its 95% Wilson interval."""
    d = Path(directory or REPORTS_DIR)
    rows = []
    for path in sorted(d.glob(f"{prefix}*.json")):
        rec = json.loads(path.read_text())
        if not {"task", "accuracy", "n", "by_difficulty"} <= set(rec):
            continue
        overall, levels = _accuracy_cells(rec)
        fmt = "direct" if rec.get("direct") else "chain of thought"
        if rec.get("difficulty"):  # an eval restricted to some levels says which
            fmt += f", levels {_span(rec['difficulty'])}"
        edge = ", ".join(edge_levels(rec["by_difficulty"])) or "none"
        first = min((int(k) for k in rec["by_difficulty"]), default=0)
        rows.append(((rec["task"], bool(rec.get("difficulty")), bool(rec.get("direct")), first),
                     f"| {rec['task']} | {fmt} | {overall} | {edge} | {levels} |"))
    if not rows:
        raise InvalidInput(f"no {prefix}*.json accuracy files in {d}; run "
                           "`bash recipes/default_eval.sh` first")
    # per task: every level, then the restricted evals, lower levels first (the trained
    # levels, then the ladder past them)
    rows.sort(key=lambda r: r[0])
    head = ["| task | format | held-out accuracy [95% CI] | edge of competence "
            f"(levels at {EDGE[0]:.0%}-{EDGE[1]:.0%}) | by difficulty "
            "(level: accuracy [95% CI]) |", "|---|---|---|---|---|"]
    return "\n".join(head + [r[1] for r in rows])


def replace_block(text: str, name: str, body: str) -> str:
    """Replace what lies between ``<!-- name -->`` and ``<!-- /name -->`` in ``text``.

    >>> replace_block("a\\n<!-- t -->\\nold\\n<!-- /t -->\\nb", "t", "new")
    'a\\n<!-- t -->\\nnew\\n<!-- /t -->\\nb'
    """
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise InvalidInput(f"no '{start}' ... '{end}' block to fill in")
    return text[: i + len(start)] + "\n" + body + "\n" + text[j:]


def update_readme_table(readme: str | Path, directory: str | Path | None = None) -> Path:
    """Refill the ``accuracy-table`` block of ``readme`` from the eval JSON files."""
    path = Path(readme)
    if not path.is_file():
        raise InvalidInput(f"no README at {path}")
    return atomic_write_text(path, replace_block(path.read_text(), "accuracy-table",
                                                 accuracy_table(directory)))
