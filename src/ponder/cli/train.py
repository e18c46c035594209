"""``ponder train``: train a reasoner from scratch on teacher chains of thought."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from ponder.cli._common import command_line
from ponder.errors import ConfigError
from ponder.train.layout import CHECKPOINT, DEFAULT_TASKS, METRICS

if TYPE_CHECKING:
    from ponder.train.loop import TrainConfig
    from ponder.train.sft import SFTConfig


def _configs(out: Path, resume: bool, sft_opts: dict, train_opts: dict
             ) -> tuple[SFTConfig, TrainConfig]:
    """The run's configs. A new run builds them from the options given (None: default);
    --resume loads the saved ones and applies only budget/optimisation options."""
    from ponder.train.loop import TrainConfig
    from ponder.train.sft import SFTConfig, load_run_configs

    sft_opts = {k: v for k, v in sft_opts.items() if v is not None}
    train_opts = {k: v for k, v in train_opts.items() if v is not None}
    if resume:
        sft, cfg = load_run_configs(out)
        changed = [k for k, v in sft_opts.items() if getattr(sft, k) != v]
        changed += [k for k in ("seed", "pack", "pack_len") if train_opts.get(k, getattr(cfg, k))
                    != getattr(cfg, k)]
        if changed:
            names = {"tasks": "--task", "pack": "--pack/--no-pack"}
            flags = [names.get(k, "--" + k.replace("_", "-")) for k in changed]
            raise ConfigError(f"--resume continues the saved run in {out} and cannot change "
                              f"{', '.join(flags)}; drop them or train into a new --out")
        if "minutes" in train_opts and "steps" not in train_opts:
            train_opts["steps"] = None  # a new time budget replaces the step budget
        return sft, replace(cfg, **train_opts)
    if "steps" not in train_opts and "minutes" not in train_opts:
        raise ConfigError("give a training budget: --steps N and/or --minutes M")
    train_opts.setdefault("steps", None)
    train_opts.setdefault("threads", 1)
    return SFTConfig(**sft_opts), TrainConfig(**train_opts)


def _pairs(text: str | None, flag: str, example: str) -> dict[str, str] | None:
    """``"arith=4,chain=8"`` -> {"arith": "4", "chain": "8"}."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{flag} wants TASK=VALUE pairs like {example}; got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _counts(text: str | None, flag: str, what: str, example: str) -> dict[str, int] | None:
    """``"arith=4,chain=8"`` -> {"arith": 4, "chain": 8}: TASK=integer pairs of ``flag``."""
    pairs = _pairs(text, flag, example)
    if pairs is None:
        return None
    bad = [f"{k}={v}" for k, v in pairs.items() if not v.isdigit()]
    if bad:
        raise ConfigError(f"{flag} wants TASK={what} pairs like {example}; got {bad[0]!r}")
    return {k: int(v) for k, v in pairs.items()}


def _levels(text: str | None) -> dict[str, int] | None:
    """``"arith=4,chain=8"`` -> {"arith": 4, "chain": 8}."""
    return _counts(text, "--max-difficulty", "LEVEL", "arith=4,chain=8")


def _weights(text: str | None) -> dict[str, float] | None:
    """``"chain=2,countdown=0.5"`` -> {"chain": 2.0, "countdown": 0.5}."""
    pairs = _pairs(text, "--weights", "chain=2,countdown=0.5")
    if pairs is None:
        return None
    try:
        return {k: float(v) for k, v in pairs.items()}
    except ValueError:
        bad = next(f"{k}={v!r}" for k, v in pairs.items() if not _number(v))
        raise ConfigError(f"--weights wants TASK=WEIGHT pairs like chain=2,countdown=0.5; "
                          f"got {bad}") from None


def _pads(text: str | None) -> int | dict[str, int] | None:
    """``"64"`` -> 64 (every task); ``"perm=160,chain=64"`` -> {"perm": 160, "chain": 64}."""
    if text is not None and text.strip().isdigit():
        return int(text)
    if text is not None and "=" not in text:
        raise ConfigError(f"--prompt-pad wants a number of spaces or TASK=SPACES pairs like "
                          f"perm=160,chain=64; got {text!r}")
    return _counts(text, "--prompt-pad", "SPACES", "perm=160,chain=64")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _checkpoint_dir(path: Path) -> Path:
    """``--init``'s model directory (a checkpoint, or a training run's)."""
    from ponder.lm.checkpoint import model_dir

    d = model_dir(path)
    if not (d / "config.json").is_file():
        raise ConfigError(f"--init: {path} holds no ponder checkpoint (config.json)")
    return d


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        ctx: typer.Context,
        task: str | None = typer.Option(
            None, "--task", help=f"Task mixture, comma-separated [default: "
            f"{','.join(DEFAULT_TASKS)}]."),
        preset: str | None = typer.Option(
            None, "--preset", help="Model size: micro, tiny, small, base, large [default: small]."),
        steps: int | None = typer.Option(None, "--steps", min=1, help="Optimizer steps."),
        minutes: float | None = typer.Option(
            None, "--minutes", min=0.01, help="Wall-clock budget (evaluations included)."),
        batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                              help="Examples per step [default: 32]."),
        grad_accum: int | None = typer.Option(
            None, "--grad-accum", min=1,
            help="Micro-batches of --batch-size added up per optimizer step [1]."),
        lr: float | None = typer.Option(None, "--lr", help="Peak learning rate [3e-3]."),
        seed: int | None = typer.Option(None, "--seed", help="Initialisation and data [0]."),
        direct_fraction: float | None = typer.Option(
            None, "--direct-fraction", help="Share of no-chain-of-thought examples [0.1]."),
        weights: str | None = typer.Option(
            None, "--weights", help="Relative share of examples per task, e.g. "
            "chain=2,countdown=0.5 (tasks not named weigh 1)."),
        max_difficulty: str | None = typer.Option(
            None, "--max-difficulty", help="Highest level drawn per task, e.g. "
            "arith=4,chain=8 (held-out evaluation still covers every level)."),
        eval_every: int | None = typer.Option(
            None, "--eval-every", min=0, help="Steps between evaluations (0: at the end)."),
        eval_n: int | None = typer.Option(
            None, "--eval-n", min=0, help="Held-out problems per task per evaluation [32]."),
        save_every: int | None = typer.Option(None, "--save-every", min=1,
                                              help="Steps between checkpoints [100]."),
        precision: str | None = typer.Option(None, "--precision",
                                             help="fp32, bf16 (autocast) or auto: bf16 "
                                             "where this CPU multiplies bfloat16 at least "
                                             "2x faster than float32 (AMX), else fp32 "
                                             "[auto]."),
        curriculum: str | None = typer.Option(
            None, "--curriculum", help="How levels are drawn: uniform (over each task's "
            "range; the default) or competence (levels in order, as the model masters them)."),
        style: str | None = typer.Option(
            None, "--style", help="Trace style per task instead of its default, e.g. "
            "arith=coarse,perm=coarse (`ponder tasks list` shows the styles)."),
        prompt_pad: str | None = typer.Option(
            None, "--prompt-pad", help="Up to this many extra spaces in each training "
            "question, so that a look-up must find facts by content, not by counting "
            "positions: a number for every task or one per task, e.g. perm=160 [0]."),
        pad_at: str | None = typer.Option(
            None, "--pad-at", help="Where --prompt-pad's spaces go: sentences (after the "
            "question's sentences), words (after any word) or chars (after any character, "
            "inside numbers too) [sentences]."),
        pack_len: int | None = typer.Option(
            None, "--pack-len", min=16, help="Tokens per packed row [the model's context]; "
            "shorter rows spend less on attention when every example fits."),
        pack: bool | None = typer.Option(
            None, "--pack/--no-pack", help="Pack whole examples into rows of the model's "
            "context, --batch-size rows per step (--no-pack: --batch-size padded examples). "
            "Packing is the default."),
        init: Path | None = typer.Option(
            None, "--init", help="Start from this ponder checkpoint (or run directory) "
            "instead of a fresh model: continued training on the mixture; its shape is "
            "kept, so --preset does not apply."),
        positions: str | None = typer.Option(
            None, "--positions", help="rope (rotary positions) or none (no positional "
            "encoding, NoPE: order from the causal mask alone) [rope]."),
        digit_index: int | None = typer.Option(
            None, "--digit-index", help="Digit-index embeddings (Abacus): each digit also "
            "embeds its index in its number, offset at random in training; N is the "
            "table's size (indices past it share the last) [0: none]."),
        kv_heads: int | None = typer.Option(
            None, "--kv-heads", help="Key/value heads (grouped-query attention): each "
            "serves n_head / N query heads, and decoding reads N / n_head of the cache "
            "bytes; with --init, the checkpoint's heads are mean-pooled into N first "
            "(uptraining) [0: one per query head]."),
        position_span: float | None = typer.Option(
            None, "--position-span", help="Rotary positions of a training row: 1 = "
            "0..T-1; s > 1 = an ordered random sample of T slots of [0, s*T) divided by s: "
            "gaps that vary around 1 (Ruoss et al. 2023) [1]."),
        threads: int | None = typer.Option(
            None, "--threads", min=0, help="CPU threads (0: all) [1: safest on a busy machine; "
            "2 trains 1.7x faster on an idle 2-core one]."),
        out: Path = typer.Option(Path("runs/default"), "--out", "-o", help="Run directory."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Train a model from scratch on teacher traces of a task mixture (SFT).

        Writes OUT/checkpoint (the model), OUT/state.pt (to resume) and
        OUT/metrics.jsonl. Interrupted runs continue with --resume.
        """
        tasks = tuple(s.strip() for s in task.split(",") if s.strip()) if task else None
        if init is not None and preset is not None:
            raise ConfigError("--init keeps the checkpoint's shape; drop --preset")
        sft, cfg = _configs(
            out, resume,
            dict(tasks=tasks, preset=preset, weights=_weights(weights),
                 direct_fraction=direct_fraction, eval_n=eval_n,
                 max_difficulty=_levels(max_difficulty), curriculum=curriculum,
                 styles=_pairs(style, "--style", "arith=coarse"),
                 prompt_pad=_pads(prompt_pad), pad_at=pad_at, positions=positions,
                 digit_index=digit_index, kv_heads=kv_heads,
                 init=None if init is None else str(_checkpoint_dir(init))),
            dict(steps=steps, minutes=minutes, batch_size=batch_size, grad_accum=grad_accum,
                 lr=lr, seed=seed,
                 eval_every=eval_every, save_every=save_every, precision=precision,
                 threads=threads, pack=pack, pack_len=pack_len,
                 position_span=position_span))
        from ponder.train.sft import train_sft

        console = Console()
        budget = " and ".join(x for x in (cfg.steps and f"{cfg.steps} steps",
                                          cfg.minutes and f"{cfg.minutes:g} minutes") if x)
        what = f"the model of {sft.init}" if sft.init else f"a {sft.preset} model"
        console.print(f"{'resuming' if resume else 'training'} {what} on "
                      f"{','.join(sft.tasks)} for {budget} -> {out}")
        _, result = train_sft(sft, cfg, out, resume=resume, progress=not quiet,
                              extra={"command": command_line(ctx)})
        console.print(f"step {result.step}  loss {result.loss:.4f}  "
                      f"{result.tokens:,} tokens in {result.elapsed / 60:.1f} min")
        for k, v in result.eval.items():
            console.print(f"  {k}: {v}")
        console.print(f"model: {out / CHECKPOINT}   metrics: {out / METRICS}")
        console.print(f"next: ponder eval --model {out} --task {sft.tasks[0]}")
