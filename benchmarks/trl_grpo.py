"""ponder's GRPO against TRL's ``GRPOTrainer`` on the same transformers model, same
prompts, group size, batch, completion cap, learning rate and loss (token-level, no KL
term, one optimizer step per rollout, temperature 1), side by side in one process:
seconds per step and the reward of each step.

Arms (each run ``--steps`` steps from the same starting weights, ``--repeats`` times,
alternating, so machine load hits them alike; medians over steps 2.. and repeats):
- ``trl``: ``trl.GRPOTrainer`` with ponder's task data set and verifier as its reward
  (``ponder.integrations.trl``);
- ``ponder_hf``: ``ponder.train.rl.run_rl`` on ``HFPolicy`` — the same transformers
  model object type, sampled by ponder's HF backend; the update runs each prompt once
  for its group's samples (``ponder.lm.hf.completion_logprobs``) and skips the rows
  whose advantage is 0 (``RLConfig.skip_zero_advantage``), both exact;
- ``ponder_hf_noskip`` and ``ponder_hf_plain`` (in ``--arms``): the same without the
  skip, and without either (every row runs, each with its own prompt, as in TRL), which
  tells what each saves;
- ``ponder_native`` (with ``--native CHECKPOINT``, a ponder checkpoint whose export is
  ``--model``): the same weights as ponder's own model and engine, with the shared
  prompt and the skip; ``ponder_native_plain`` without either; ``ponder_native_compiled``
  with both and the decoding step compiled (``ponder.lm.fused``; compiled in an untimed
  warm-up).

    python benchmarks/trl_grpo.py --export-bundled runs/bundled_hf \\
        --json reports/trl_grpo_benchmark.json          # the bundled reasoner, exported
    python benchmarks/trl_grpo.py --model runs/learning/smollm2/model --task arith \
        --levels 1,2 --steps 6
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ponder.eval.stats import compare_unpaired, format_difference


def run_trl(model_dir: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import trl
    from transformers import AutoModelForCausalLM, TrainerCallback

    from ponder.integrations.trl import task_dataset, task_reward
    from ponder.lm.hf import HFLM, _load_tokenizer

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            times.append(time.perf_counter())

        def on_step_end(self, a, state, control, **kw):
            times[-1] = time.perf_counter() - times[-1]

    tok = _load_tokenizer(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    # prompts exactly as ponder's HF backend lays them out (the chat template and the
    # think/answer instruction for an instruct model, the raw layout otherwise), as
    # plain strings, so TRL does not template them again
    layout = HFLM(model, tok, device="cpu")
    data = task_dataset(args.task, args.batch * args.steps * 2, difficulty=args.levels,
                        seed=args.seed, lm=layout)
    cfg = trl.GRPOConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch *
        args.group, num_generations=args.group, max_completion_length=args.max_tokens,
        learning_rate=args.lr, beta=0.0, temperature=1.0, loss_type="dapo",
        gradient_accumulation_steps=1, logging_steps=1, report_to="none", save_strategy="no",
        use_cpu=True, bf16=args.precision == "bf16", seed=args.seed,
        dataloader_num_workers=0,
        lr_scheduler_type="constant", warmup_steps=0)
    # no answer scores 0 on both sides (ponder's RewardConfig.no_answer)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[task_reward(args.task, no_answer=0.0)],
                              args=cfg,
                              train_dataset=data, processing_class=tok, callbacks=[Clock()])
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return {"step_s": times, "reward": rewards}


def run_ponder(policy: Any, args: argparse.Namespace, out: Path, skip: bool = True
               ) -> dict[str, Any]:
    from ponder.tasks import get_task
    from ponder.train.rl import RLConfig, run_rl
    from ponder.train.state import read_metrics

    cfg = RLConfig(steps=args.steps, batch=args.batch, group=args.group,
                   max_tokens=args.max_tokens, lr=args.lr, difficulty=args.levels,
                   temperature=1.0, track_kl=False, eval_n=0, save_every=0,
                   gen_batch=args.batch, seed=args.seed, precision=args.precision,
                   skip_zero_advantage=skip)
    run_rl(policy, [get_task(args.task)], cfg, out, progress=False)
    rows = [r for r in read_metrics(out) if r.get("kind") == "train"]
    return {"step_s": [r["step_s"] for r in rows], "gen_s": [r["gen_s"] for r in rows],
            "skipped": [r.get("skipped", 0.0) for r in rows],  # rows the update left out
            "reward": [r["reward"] for r in rows]}


def warm_up(policy: Any, args: argparse.Namespace) -> None:
    """Compile the policy's decoding step before any timing: rollouts of the benchmark's
    shape (ragged prompts, so the masked step is compiled too) and one lone prompt."""
    from ponder.lm.template import prompt_for
    from ponder.tasks import get_task

    lm = policy.lm()
    problems = get_task(args.task).problems("train", args.batch, seed=args.seed + 99,
                                            difficulty=args.levels)
    prompts = [prompt_for(lm, p.prompt) for p in problems]
    lm.generate(prompts, n=args.group, max_tokens=args.max_tokens, temperature=1.0)
    lm.generate(prompts[:1], n=1, max_tokens=8, temperature=1.0)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    steady = [s for r in runs for s in r["step_s"][1:]]  # step 1 pays for warm-up
    return {"median_step_s": statistics.median(steady) if steady else None,
            "steps_per_s": 1.0 / statistics.median(steady) if steady else None,
            # ponder's arms: the part of a step spent sampling (the rest is the update)
            "median_gen_s": statistics.median(g) if (g := [s for r in runs
                                                          for s in r.get("gen_s", [])[1:]])
            else None,
            "reward_by_step": [statistics.mean(col) for col in zip(*(r["reward"] for r in runs),
                                                                     strict=False)],
            "runs": runs}


def compare_rewards(arms: dict[str, list[dict[str, Any]]], per_step: int
                    ) -> dict[str, dict[str, Any]]:
    """Each arm's share of rewarded samples (each scores 0 or 1), pooled over its steps,
    against TRL's, as independent samples (Newcombe's interval). The repeats replay the
    same seeds, so a reward curve seen again counts once: only distinct runs are pooled.
    TRL and ponder draw their problems in different orders, so the two pools hold
    different problems of the same levels."""
    pooled = {}
    for name, runs in arms.items():
        distinct = {tuple(r["reward"]) for r in runs}
        pooled[name] = (sum(sum(c) for c in distinct) * per_step,
                        sum(len(c) for c in distinct) * per_step)
    return {name: compare_unpaired(*pooled["trl"], *pooled[name])
            for name in arms if name != "trl" and pooled[name][1] and pooled["trl"][1]}


def resummarize(path: Path) -> None:
    """Recompute the comparisons of a result this script wrote (after a change to how
    they are computed), keeping its measurements."""
    record = json.loads(path.read_text())
    arms = {name: arm["runs"] for name, arm in record["arms"].items()}
    settings = record["settings"]
    record["reward_vs_trl"] = compare_rewards(arms, settings["batch"] * settings["group"])
    record.setdefault("resummarized", []).append(shlex.join(["python", *sys.argv]))
    from ponder.eval.report import atomic_write_json

    atomic_write_json(path, record)
    print(json.dumps({k: format_difference(v) for k, v in record["reward_vs_trl"].items()},
                     indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="transformers model directory")
    ap.add_argument("--export-bundled", type=Path, metavar="DIR",
                    help="export the bundled reasoner to DIR and use it (and --native)")
    ap.add_argument("--native", type=Path, help="ponder checkpoint with the same weights")
    ap.add_argument("--task", default="chain")
    ap.add_argument("--levels", default="2,3", help="the bundled reasoner's edge of "
                    "competence by default: rewards vary, so there is a gradient")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="prompts per step")
    ap.add_argument("--group", type=int, default=4, help="samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="both trainers' update: float32, or bf16 autocast")
    ap.add_argument("--arms", default="trl,ponder_hf,ponder_native",
                    help="comma-separated, of trl, ponder_hf, ponder_hf_noskip, "
                    "ponder_hf_plain, ponder_native, ponder_native_plain (the last two "
                    "need --native or --export-bundled)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--resummarize", type=Path, metavar="JSON",
                    help="recompute the comparisons of an earlier result, keeping its "
                    "measurements")
    args = ap.parse_args()
    if args.resummarize:
        return resummarize(args.resummarize)
    args.levels = [int(x) for x in args.levels.split(",")]
    torch.set_num_threads(args.threads)

    from ponder.lm.checkpoint import load_checkpoint
    from ponder.lm.registry import weights_digest
    from ponder.train.hf_policy import HFPolicy
    from ponder.train.policy import NativePolicy

    if args.export_bundled:
        from ponder.lm.export import export_checkpoint
        from ponder.lm.registry import default_model_path

        args.native = default_model_path()
        args.model = export_checkpoint(args.native, args.export_bundled)
    if args.model is None:
        ap.error("give --model DIR or --export-bundled DIR")
    hf_arms = {"ponder_hf": (True, True), "ponder_hf_noskip": (True, False),
               "ponder_hf_plain": (False, False)}  # arm -> (shared prompts, skip)
    native_arms = ("ponder_native", "ponder_native_plain", "ponder_native_compiled")
    known = ("trl", *hf_arms, *native_arms)
    names = [a for a in args.arms.split(",")
             if a and (not a.startswith("ponder_native") or args.native)]
    if bad := [a for a in names if a not in known]:
        ap.error(f"unknown arm(s) {bad}; choose from {list(known)}")
    if "trl" not in names:
        ap.error("--arms must include trl: every ratio is to TRL's step")
    arms: dict[str, list[dict[str, Any]]] = {a: [] for a in names}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for arm in arms:
                out = Path(tmp) / f"{arm}{rep}"
                t0 = time.perf_counter()
                if arm == "trl":
                    res = run_trl(args.model, args, out)
                elif arm in hf_arms:
                    share, skip = hf_arms[arm]
                    policy = HFPolicy.load(args.model, device="cpu", share_prompts=share)
                    res = run_ponder(policy, args, out, skip)
                else:
                    model, tok, _ = load_checkpoint(args.native)
                    plain = arm == "ponder_native_plain"
                    policy = NativePolicy(model, tok, share_prompts=not plain,
                                          compile=arm == "ponder_native_compiled")
                    if policy.compile and rep == 0:
                        warm_up(policy, args)
                    res = run_ponder(policy, args, out, skip=not plain)
                res["wall_s"] = time.perf_counter() - t0
                arms[arm].append(res)
                print(f"repeat {rep} {arm}: median step "
                      f"{statistics.median(res['step_s'][1:] or res['step_s']):.2f}s, "
                      f"reward {res['reward']}", file=sys.stderr)
    result = {name: summary(runs) for name, runs in arms.items()}
    base = result["trl"]["median_step_s"]
    ratios = {name: base / r["median_step_s"] for name, r in result.items()
              if name != "trl" and r["median_step_s"]}
    reward_vs_trl = compare_rewards(arms, args.batch * args.group)
    record = {"command": shlex.join(["python", *sys.argv]), "model": str(args.model),
              "native": str(args.native) if args.native else None,
              "model_sha256": weights_digest(str(args.native)) if args.native else None,
              "settings": {k: getattr(args, k) for k in ("task", "levels", "steps", "batch",
                                                         "group", "max_tokens", "lr",
                                                         "repeats", "seed", "threads",
                                                         "precision", "arms")},
              "trl_version": __import__("trl").__version__,
              "speedup_vs_trl": ratios, "reward_vs_trl": reward_vs_trl, "arms": result}
    print(json.dumps({"speedup_vs_trl": ratios,
                      "reward_vs_trl": {k: format_difference(v) for k, v in reward_vs_trl.items()},
                      **{k: {"median_step_s": v["median_step_s"],
                             "reward_by_step": v["reward_by_step"]}
                         for k, v in result.items()}}, indent=1))
    if args.json:
        from ponder.eval.report import atomic_write_json

        atomic_write_json(args.json, record)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
