"""``ponder quiet-star``: train, evaluate and sample from Quiet-STaR models
(Zelikman et al. 2024): a thought before every token, learned from plain text."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli._common import parse_ints
from ponder.errors import InvalidInput

qs_app = typer.Typer(help="Quiet-STaR: learn to think before every token, from text in which "
                     "no reasoning is written (Zelikman et al. 2024).", no_args_is_help=True)

MODEL_HELP = ("A ponder checkpoint or run directory, or hf:DIR (Llama/Qwen2); default: the "
              "bundled reasoner.")
TASK_HELP = "Task families whose direct (problem -> answer) text is used, comma-separated."


def _threads(n: int) -> None:
    import torch

    if n > 0:
        torch.set_num_threads(n)


@qs_app.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", help="Run directory (OUT/checkpoint, "
                             "OUT/metrics.jsonl, OUT/train.json)."),
    model: str = typer.Option("", "--model", help=MODEL_HELP),
    task: str = typer.Option("arith", "--task", help=TASK_HELP),
    mode: str = typer.Option("quiet", help="quiet (Quiet-STaR), pause (filler thoughts of "
                             "the same length) or plain (no thoughts: the control)."),
    thought_tokens: int = typer.Option(8, help="Sampled tokens per thought (between the "
                                       "start and end tokens)."),
    n_thoughts: int = typer.Option(2, help="Thoughts per position (reward baseline = mean)."),
    n_true: int = typer.Option(4, help="Future tokens that score a thought (non-myopic)."),
    steps: int = typer.Option(200, help="Optimizer steps."),
    max_level: int = typer.Option(None, help="Text of problems up to this level (default: "
                                  "every level); the model's trained levels keep it sane."),
    targets: str = typer.Option("text", help="text: every token is a target (the paper); "
                                "answer: only the answer tokens (the question's random "
                                "digits cannot be predicted)."),
    batch_size: int = typer.Option(16),
    lr: float = typer.Option(3e-4),
    meta_lr_mult: float = typer.Option(100.0, help="LR multiplier of the thought-token "
                                       "embeddings."),
    mixer_lr_mult: float = typer.Option(1.0, help="LR multiplier of the mixing head."),
    base_weight: float = typer.Option(0.5, help="Share of the no-thought next-token loss."),
    reinforce_weight: float = typer.Option(1.0, help="Weight of the REINFORCE term (the "
                                           "reference code's policy_loss_beta is 1e6)."),
    max_flops: float = typer.Option(None, help="Stop at this training FLOP count (to match "
                                    "a control to another run's compute)."),
    match_flops: Path = typer.Option(None, help="Stop at the FLOPs of this run's train.json."),
    max_seconds: float = typer.Option(None, help="Stop after this many seconds."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads (0: all)."),
    device: str = typer.Option("cpu"),
    name: str = typer.Option(None, help="Report name (default quiet_star_train_<mode>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
) -> None:
    """Train on direct-answer text of TRAIN problems; writes the run directory and
    reports/<name>.json."""
    import json

    from ponder.eval.report import write_report
    from ponder.quietstar.model import ThoughtConfig, load_quietstar
    from ponder.quietstar.objective import LossConfig
    from ponder.quietstar.train import TrainConfig, train
    from ponder.tasks import parse_tasks

    _threads(threads)
    if match_flops is not None:
        path = match_flops / "train.json" if match_flops.is_dir() else match_flops
        if not path.exists():
            raise InvalidInput(f"--match-flops: {path} does not exist")
        max_flops = float(json.loads(path.read_text())["flops"])
    tcfg = ThoughtConfig(thought_tokens=thought_tokens, n_thoughts=n_thoughts, n_true=n_true,
                         pause=mode == "pause")
    qs, path = load_quietstar(model, device=device, cfg=tcfg)
    cfg = TrainConfig(mode=mode, steps=steps, batch_size=batch_size, lr=lr,
                      meta_lr_mult=meta_lr_mult, mixer_lr_mult=mixer_lr_mult,
                      max_flops=max_flops, max_seconds=max_seconds,
                      seed=seed, max_level=max_level, targets=targets)
    summary = train(qs, parse_tasks(task), cfg, out, LossConfig(base_weight=base_weight,
                                                             reinforce_weight=reinforce_weight),
                    resume=resume,
                    log=lambda s: typer.echo(s, err=True))
    report = write_report(name or f"quiet_star_train_{mode}", {**summary, "out": str(out)},
                          model=path, split="train", seed=seed,
                          title=f"Quiet-STaR training ({mode})")
    typer.echo(f"wrote {out}/checkpoint and {report}")


@qs_app.command("eval")
def eval_cmd(
    model: str = typer.Option("", "--model", help=MODEL_HELP),
    task: str = typer.Option("arith", "--task", help=TASK_HELP),
    n: int = typer.Option(500, help="TEST problems per task."),
    max_level: int = typer.Option(None, help="Problems up to this level (default: all)."),
    lengths: str = typer.Option("0,4,8,16", help="Thought lengths for the answer "
                                "likelihood (0 = no thought)."),
    acc_lengths: str = typer.Option(None, help="Thought lengths for direct accuracy "
                                    "(default: 0 and the trained length)."),
    batch_size: int = typer.Option(32),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads (0: all)."),
    device: str = typer.Option("cpu"),
    plot: Path = typer.Option(None, help="Also write a PNG of gain vs thought length."),
    name: str = typer.Option("quiet_star_eval", help="Report name."),
) -> None:
    """Held-out answer log-likelihood with thoughts of each length (paired gains over no
    thought, gains by token difficulty) and direct accuracy with Wilson intervals."""
    from ponder.eval.report import write_report
    from ponder.quietstar.evaluate import (
        answer_loglik,
        direct_accuracy,
        held_out_examples,
        plot_gain,
    )
    from ponder.quietstar.model import load_quietstar
    from ponder.tasks import parse_tasks

    _threads(threads)
    ls = sorted(set(parse_ints(lengths, "--lengths", minimum=0)) | {0})
    accs = parse_ints(acc_lengths, "--acc-lengths", minimum=0) if acc_lengths else None
    tasks = parse_tasks(task)
    qs, path = load_quietstar(model, device=device)
    accs = accs or sorted({0, qs.cfg.thought_tokens})
    typer.echo(f"answer log-likelihood at thought lengths {ls} on {n} problems/task", err=True)
    levels = list(range(1, max_level + 1)) if max_level else None
    ll = answer_loglik(qs, held_out_examples(tasks, n, seed, levels), ls, batch_size, seed)
    for t, e in ll["by_length"].items():
        g = e.get("gain_vs_0")
        gain = f"  gain {g['diff']:+.4f} [{g['ci95'][0]:+.4f}, {g['ci95'][1]:+.4f}]" if g else ""
        typer.echo(f"  {t:>3} thought tokens: NLL/token {e['nll_per_token']['mean']:.4f}{gain}",
                   err=True)
    typer.echo(f"direct accuracy at thought lengths {accs}", err=True)
    acc = direct_accuracy(qs, tasks, n, accs, seed, batch_size, levels)
    for t, e in acc.items():
        typer.echo(f"  {t:>3}: {e['accuracy']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}] "
                   f"n={e['n']}", err=True)
    if plot is not None:
        plot_gain(ll, str(plot))
    report = write_report(name, {"loglik": ll, "direct_accuracy": acc, "thought": qs.cfg.__dict__,
                                 "plot": str(plot) if plot else None},
                          model=path, split="test", seed=seed,
                          title="Quiet-STaR: answer likelihood and direct accuracy by "
                                "thought length")
    typer.echo(f"wrote {report}")


@qs_app.command("generate")
def generate_cmd(
    prompt: str = typer.Argument(..., help="Text to continue (e.g. 'What is 2 + 3?')."),
    model: str = typer.Option("", "--model", help=MODEL_HELP),
    thought_tokens: int = typer.Option(None, help="Thought length (default: as trained; "
                                       "0: no thoughts)."),
    max_tokens: int = typer.Option(32),
    temperature: float = typer.Option(0.0, help="Sampling temperature of emitted tokens."),
    direct: bool = typer.Option(True, "--direct/--raw", help="Wrap the prompt as a direct "
                                "question (closed thinking), as in training."),
    show_thoughts: bool = typer.Option(False, "--show-thoughts", help="Print the thought "
                                       "before each token."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu"),
) -> None:
    """Continue a prompt with a thought before every emitted token."""
    from ponder.lm.template import format_prompt
    from ponder.quietstar.generate import QuietStarLM
    from ponder.quietstar.model import load_quietstar

    qs, _ = load_quietstar(model, device=device)
    lm = QuietStarLM(qs, thought_tokens=thought_tokens)
    text = format_prompt(prompt, think=False) if direct else prompt
    [[d]] = lm.generate_decoded([text], max_tokens=max_tokens, temperature=temperature,
                                seed=seed)
    if show_thoughts:
        for tok, th in zip(d.tokens, d.thoughts, strict=False):
            typer.echo(f"{qs.codec.decode(th)!r} -> {qs.codec.decode([tok])!r}")
    typer.echo(d.text)


@qs_app.command("compare")
def compare_cmd(
    reports: list[Path] = typer.Argument(..., help="quiet-star eval reports (JSON); the "
                                         "first is the baseline."),
    name: str = typer.Option("quiet_star_compare", help="Report name."),
) -> None:
    """Direct accuracy of several evaluated models, each paired with the first."""
    import json

    from ponder.eval.report import write_report
    from ponder.quietstar.evaluate import compare_runs

    evals = {}
    for path in reports:
        try:
            record = json.loads(path.read_text())
            evals[record["name"]] = record["results"]
        except (OSError, ValueError, KeyError) as e:
            raise InvalidInput(f"{path} is not a quiet-star eval report ({e})") from None
    result = compare_runs(evals, next(iter(evals)))
    for n, e in result.items():
        vs = next((v for k, v in e.items() if k.startswith("vs_")), None)
        diff = f"  diff {vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}] " \
               f"{vs['verdict']}" if vs else ""
        typer.echo(f"{n}: {e['accuracy']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}] "
                   f"(t={e['thought_tokens']}){diff}")
    typer.echo(f"wrote {write_report(name, result, title='Quiet-STaR vs controls')}")


def register(app: typer.Typer) -> None:
    app.add_typer(qs_app, name="quiet-star")
