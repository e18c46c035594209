import doctest
import json
import math
import random
import re
from typing import ClassVar

import pytest
import torch

import ponder.train.loop as loop_mod
from ponder.errors import ConfigError, InvalidInput
from ponder.lm.checkpoint import load_checkpoint
from ponder.lm.template import THINK_CLOSE, format_prompt
from ponder.lm.tokenizer import CharTokenizer
from ponder.train import core
from ponder.train.core import lr_factor, resolve_precision
from ponder.train.data import (
    Batcher,
    Example,
    ExampleList,
    MixtureConfig,
    TaskMixture,
    batch_at,
    collate,
    encode_example,
    pad_question,
    task_example,
)
from ponder.train.loop import TrainConfig, masked_nll, train
from ponder.train.sft import build_model, finetune, heldout_loss
from ponder.train.state import read_metrics
from tests.toy import SumTask

TOK = CharTokenizer()


class ShortSumTask(SumTask):
    """Short traces keep the training tests fast."""

    name = "toysum_short"
    max_difficulty = 3


class DirectSumTask(SumTask):
    name = "toysum_direct"
    styles: ClassVar[tuple[str, ...]] = ("cot", "direct")


def tiny_model(seed: int = 0):
    return build_model("tiny", TOK, seed=seed, max_seq_len=96)


def test_doctests():
    assert doctest.testmod(loop_mod).failed == 0


# -- data ------------------------------------------------------------------------------
def test_example_layout_and_loss_mask_cover_only_the_completion_and_eos():
    task = SumTask()
    p = task.problems("train", 1, seed=0, difficulty=2)[0]
    ex = task_example(task, p)
    assert ex.prompt == format_prompt(p.prompt)
    assert ex.completion.endswith(f"{THINK_CLOSE}\nAnswer: {p.answer}")
    ids, mask = encode_example(TOK, ex)
    assert ids[0] == TOK.bos_id and ids[-1] == TOK.eos_id
    n_prompt = len(TOK.encode(ex.prompt)) + 1
    assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt)
    assert TOK.decode([i for i, m in zip(ids, mask, strict=True) if m]) == ex.completion + "<eos>"


def test_direct_example_has_no_thinking():
    task = DirectSumTask()
    p = task.problems("train", 1, seed=0, difficulty=3)[0]
    ex = task_example(task, p, "direct")
    assert ex.prompt == format_prompt(p.prompt, think=False)
    assert ex.completion == f"Answer: {p.answer}"


def test_collate_shifts_targets_and_masks_padding():
    a = encode_example(TOK, Example("Q\n", "ab"))
    b = encode_example(TOK, Example("Q\n", "abcdef"))
    batch = collate([a, b], TOK.pad_id, max_len=64)
    assert batch.idx.shape == (2, len(b[0]) - 1)
    assert batch.targets[0, : len(a[0]) - 1].tolist() == a[0][1:]
    assert (batch.targets[0, len(a[0]) - 1 :] == -1).all()
    assert batch.mask[0].sum() == 3 and batch.mask[1].sum() == 7  # completion + eos
    with pytest.raises(InvalidInput, match="max_seq_len"):
        collate([b], TOK.pad_id, max_len=4)


def test_mixture_is_deterministic_train_only_and_mixes_tasks_styles_and_levels():
    tasks = [SumTask(), DirectSumTask()]
    mix = TaskMixture(tasks, seed=3, config=MixtureConfig(direct_fraction=0.3))
    draws = [mix.draw(i) for i in range(400)]
    again = TaskMixture(tasks, seed=3, config=MixtureConfig(direct_fraction=0.3))
    assert [p.id for _, p, _ in draws] == [again.draw(i)[1].id for i in range(400)]
    assert [p.id for _, p, _ in draws] != [TaskMixture(tasks, seed=4).draw(i)[1].id
                                          for i in range(400)]
    assert all(t.split(p) == "train" for t, p, _ in draws)
    by_task = {t.name: 0 for t in tasks}
    for t, _, _ in draws:
        by_task[t.name] += 1
    assert all(120 < c < 280 for c in by_task.values())
    assert {p.difficulty for _, p, _ in draws} == set(range(1, 7))
    # direct only where the task has the style, at about the asked rate
    assert all(s == "cot" for t, _, s in draws if t.name == "toysum")
    direct = [s == "direct" for t, _, s in draws if t.name == "toysum_direct"]
    assert 0.15 < sum(direct) / len(direct) < 0.45


def test_mixture_weights_and_validation():
    tasks = [SumTask(), DirectSumTask()]
    mix = TaskMixture(tasks, seed=0, config=MixtureConfig(weights={"toysum": 0.0}))
    assert all(mix.draw(i)[0].name == "toysum_direct" for i in range(50))
    with pytest.raises(ConfigError, match="not in the mixture"):
        TaskMixture(tasks, config=MixtureConfig(weights={"nope": 1.0}))
    with pytest.raises(ConfigError, match="direct_fraction"):
        MixtureConfig(direct_fraction=1.5)


def test_mixture_difficulty_cap_limits_the_levels_drawn():
    tasks = [SumTask(), DirectSumTask()]
    mix = TaskMixture(tasks, seed=0, config=MixtureConfig(max_difficulty={"toysum": 2}))
    levels: dict[str, set[int]] = {"toysum": set(), "toysum_direct": set()}
    for i in range(300):
        task, problem, _ = mix.draw(i)
        levels[task.name].add(problem.difficulty)
    assert levels == {"toysum": {1, 2}, "toysum_direct": set(range(1, 7))}
    with pytest.raises(ConfigError, match="not in the mixture"):
        TaskMixture(tasks, config=MixtureConfig(max_difficulty={"nope": 2}))
    with pytest.raises(ConfigError, match="integers >= 1"):
        MixtureConfig(max_difficulty={"toysum": 0})


def test_padded_questions_gain_only_spaces_at_the_chosen_slots():
    q = "Start with acedb. Apply 20413 10423 in turn; each p puts it at i. What is it?"
    for at in ("sentences", "words", "chars"):
        for extra in (0, 1, 17):
            padded = pad_question(q, extra, at, random.Random(extra))
            assert len(padded) == len(q) + extra
            assert padded.replace(" ", "") == q.replace(" ", "")  # only spaces added
            if at != "chars":
                assert padded.split() == q.split()  # every word kept, in order
    tailed = pad_question("Is it?\n", 5, "words", random.Random(0))  # the newline stays last
    assert tailed.endswith("\n") and tailed.split() == ["Is", "it?"] and len(tailed) == 12
    chars = pad_question("What is 7103 * 52?", 30, "chars", random.Random(0))
    assert re.search(r"\d +\d", chars)  # a number split by spaces
    assert not re.search(r"\d +\d", pad_question("What is 7103 * 52?", 30, "words",
                                                   random.Random(0)))
    # "sentences": spaces only after . ? ; or at the end, never inside a sentence
    padded = pad_question(q, 40, "sentences", random.Random(1))
    assert "Apply 20413 10423 in turn;" in padded and "Start with acedb." in padded
    assert padded != pad_question(q, 40, "words", random.Random(1))
    with pytest.raises(ConfigError, match="pad_at"):
        pad_question(q, 3, "letters", random.Random(0))


def test_prompt_pad_pads_training_questions_and_leaves_the_rest_alone():
    tasks = [SumTask()]
    plain = TaskMixture(tasks, seed=2)
    padded = TaskMixture(tasks, seed=2, config=MixtureConfig(prompt_pad=12))
    grown = []
    for i in range(60):
        a, b = plain[i], padded[i]
        assert a.completion == b.completion and a.source == b.source
        assert a.prompt.split() == b.prompt.split()
        grown.append(len(b.prompt) - len(a.prompt))
    assert 0 <= min(grown) and max(grown) <= 12 and len(set(grown)) > 5
    assert [padded[i] for i in range(5)] == [padded[i] for i in range(5)]  # deterministic
    # per task: only the named one is padded
    both = [SumTask(), DirectSumTask()]
    one = TaskMixture(both, seed=2, config=MixtureConfig(prompt_pad={"toysum_direct": 30}))
    none = TaskMixture(both, seed=2)
    grew = {t.name: 0 for t in both}
    for i in range(60):
        grew[one.draw(i)[0].name] += len(one[i].prompt) - len(none[i].prompt)
    assert grew["toysum"] == 0 and grew["toysum_direct"] > 0
    with pytest.raises(ConfigError, match="not in the mixture"):
        TaskMixture(both, config=MixtureConfig(prompt_pad={"nope": 3}))
    for bad in (-1, {"toysum": -2}, 1.5):
        with pytest.raises(ConfigError, match="prompt_pad"):
            MixtureConfig(prompt_pad=bad)
    with pytest.raises(ConfigError, match="pad_at"):
        MixtureConfig(pad_at="letters")


def test_example_list_visits_every_example_once_per_epoch():
    exs = [Example(f"q{i}\n", f"a{i}") for i in range(7)]
    stream = ExampleList(exs, seed=1)
    for epoch in range(3):
        seen = [stream[epoch * 7 + j] for j in range(7)]
        assert sorted(seen, key=lambda e: e.prompt) == exs
    assert [stream[j] for j in range(7)] != [stream[7 + j] for j in range(7)]
    assert [ExampleList(exs, seed=1)[j] for j in range(14)] == [stream[j] for j in range(14)]


# -- pure pieces -------------------------------------------------------------------------
def test_lr_schedule_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    warm = [lr_factor(s, 0.0, 10, 0.1) for s in range(10)]
    assert warm == pytest.approx([(s + 1) / 10 for s in range(10)])
    decay = [lr_factor(10, p / 20, 10, 0.1) for p in range(21)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert decay[0] == pytest.approx(1.0) and decay[-1] == pytest.approx(0.1)
    assert decay[10] == pytest.approx(0.55)  # halfway down the cosine
    # a time budget spent before warm-up ends still decays to the floor
    assert lr_factor(5, 1.0, 10, 0.1) == pytest.approx(0.1)


def test_masked_nll_ignores_masked_positions():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], dtype=torch.float32)
    loss = masked_nll(logits, targets, mask)
    expected = torch.stack([torch.nn.functional.cross_entropy(logits[b, t], targets[b, t])
                            for b in range(2) for t in range(5) if mask[b, t]]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    poked = logits.clone()
    poked[0, 0] += 100.0  # a prompt position: must not matter
    assert masked_nll(poked, targets, mask).item() == pytest.approx(loss.item(), rel=1e-6)


def test_train_config_rejects_bad_values_with_what_to_change():
    with pytest.raises(ConfigError, match="budget"):
        TrainConfig(steps=None, minutes=None)
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="position_span"):
        TrainConfig(position_span=0.5)


# -- the loop ----------------------------------------------------------------------------
def test_training_on_teacher_traces_lowers_train_and_heldout_loss(tmp_path):
    task = ShortSumTask()
    model = tiny_model()
    mix = TaskMixture([task], seed=0)
    heldout = [task_example(task, p) for p in task.problems("test", 24, seed=0)]
    before = heldout_loss(model, TOK, heldout)
    cfg = TrainConfig(steps=40, batch_size=8, lr=1e-2, warmup_steps=4, log_every=10,
                      save_every=20, precision="fp32", threads=1)
    calls = []

    def evaluate(m, step):
        calls.append(step)
        return {"heldout_loss": heldout_loss(m, TOK, heldout)}

    result = train(model, TOK, mix, cfg, tmp_path, evaluate=evaluate, progress=False,
                   meta={"note": "toy"})
    assert result.step == 40 and calls == [40]
    assert result.eval["heldout_loss"] < 0.5 * before
    records = read_metrics(tmp_path)
    train_losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert [r["step"] for r in records if r["kind"] == "train"] == [10, 20, 30, 40]
    assert train_losses[-1] < 0.5 * train_losses[0]
    assert all(r["tokens_per_s"] > 0 for r in records if r["kind"] == "train")
    # the checkpoint is the trained model and records how it was made
    loaded, _, recipe = load_checkpoint(tmp_path / "checkpoint")
    assert recipe["step"] == 40 and recipe["note"] == "toy" and recipe["train"]["steps"] == 40
    assert heldout_loss(loaded, TOK, heldout) == pytest.approx(result.eval["heldout_loss"],
                                                               rel=1e-5)
    # a finished run is not silently overwritten
    with pytest.raises(ConfigError, match="resume"):
        train(tiny_model(), TOK, mix, cfg, tmp_path, progress=False)


def test_same_seed_same_run_and_resume_extends_the_budget(tmp_path):
    mix = TaskMixture([ShortSumTask()], seed=0)
    cfg = TrainConfig(steps=8, batch_size=4, warmup_steps=2, log_every=2, save_every=4,
                      precision="fp32")
    a = train(tiny_model(), TOK, mix, cfg, tmp_path / "a", progress=False)
    b = train(tiny_model(), TOK, mix, cfg, None, progress=False)
    assert a.loss == b.loss
    more = TrainConfig(**{**cfg.__dict__, "steps": 12})
    c = train(tiny_model(seed=5), TOK, mix, more, tmp_path / "a", resume=True, progress=False)
    assert c.step == 12 and c.tokens > a.tokens
    steps = [r["step"] for r in read_metrics(tmp_path / "a") if r["kind"] == "train"]
    assert steps == [2, 4, 6, 8, 10, 12]
    with pytest.raises(ConfigError, match="no state.pt"):
        train(tiny_model(), TOK, mix, cfg, tmp_path / "empty", resume=True, progress=False)


def test_minutes_budget_stops_on_time_and_threads_are_restored():
    mix = TaskMixture([ShortSumTask()], seed=0)
    cfg = TrainConfig(steps=None, minutes=0.03, batch_size=4, warmup_steps=1,
                      precision="fp32", threads=1)
    threads = torch.get_num_threads()
    result = train(tiny_model(), TOK, mix, cfg, None, progress=False)
    assert 1.8 <= result.elapsed < 6.0
    assert result.step > 1
    assert torch.get_num_threads() == threads


def test_auto_precision_follows_the_measured_bf16_speedup(monkeypatch):
    speedup = core.bf16_matmul_speedup()  # the real probe: a finite positive ratio
    assert 0 < speedup < float("inf")
    monkeypatch.setattr(core, "bf16_matmul_speedup", lambda: core.BF16_MIN_SPEEDUP * 2)
    assert resolve_precision("auto") == "bf16"
    monkeypatch.setattr(core, "bf16_matmul_speedup", lambda: core.BF16_MIN_SPEEDUP / 2)
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("bf16") == "bf16" and resolve_precision("fp32") == "fp32"


def test_bf16_autocast_is_applied_and_tracks_fp32():
    mix = TaskMixture([ShortSumTask()], seed=0)
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=2, precision=precision)
        runs[precision] = train(tiny_model(), TOK, mix, cfg, None, progress=False).loss
    assert math.isfinite(runs["bf16"])
    # bf16 rounding changes the numbers a little, never the course of training
    assert 0 < abs(runs["bf16"] - runs["fp32"]) < 0.05 * runs["fp32"]


def test_finetune_fits_an_explicit_example_list(tmp_path):
    exs = [Example(format_prompt(f"Name {i}?"), f"{THINK_CLOSE}\nAnswer: {i * 7}")
           for i in range(4)]
    model = tiny_model()
    before = heldout_loss(model, TOK, exs)
    cfg = TrainConfig(steps=40, batch_size=4, lr=1e-2, warmup_steps=4, precision="fp32",
                      threads=1)
    result = finetune(model, TOK, exs, cfg, tmp_path, progress=False)
    assert heldout_loss(model, TOK, exs) < 0.2 * before
    recipe = json.loads((tmp_path / "checkpoint" / "recipe.json").read_text())
    assert recipe["examples"] == 4 and recipe["precision"] == "fp32"
    assert "bf16_matmul_speedup" not in recipe  # asked for fp32: nothing was measured
    assert result.step == 40


def test_auto_precision_records_the_speedup_it_chose_by(tmp_path, monkeypatch):
    for module in (core, loop_mod):  # the probe where it decides and where it is recorded
        monkeypatch.setattr(module, "bf16_matmul_speedup", lambda: core.BF16_MIN_SPEEDUP / 4)
    exs = [Example(format_prompt("Name 1?"), f"{THINK_CLOSE}\nAnswer: 7")] * 4
    cfg = TrainConfig(steps=2, batch_size=4, warmup_steps=1, precision="auto", threads=1)
    finetune(tiny_model(), TOK, exs, cfg, tmp_path, progress=False)
    recipe = json.loads((tmp_path / "checkpoint" / "recipe.json").read_text())
    assert recipe["precision"] == "fp32" and recipe["bf16_matmul_speedup"] == 0.5


def test_batches_follow_the_stream_position():
    mix = TaskMixture([SumTask()], seed=0)
    b = batch_at(mix, TOK, 8, 4, 96)
    first = encode_example(TOK, mix[8])
    assert b.idx[0, : len(first[0]) - 1].tolist() == first[0][:-1]


def test_length_grouped_batches_cover_each_example_once_with_less_padding():
    mix = TaskMixture([SumTask()], seed=0)
    batcher = Batcher(mix, TOK, batch_size=4, max_len=96, group=4, seed=0)
    batches = [batcher(start) for start in range(0, 32, 4)]
    rows = sorted(tuple(r[r != TOK.pad_id].tolist()) for b in batches for r in b.idx)
    expected = sorted(tuple(encode_example(TOK, mix[i])[0][:-1]) for i in range(32))
    assert rows == expected
    plain = [batch_at(mix, TOK, start, 4, 96) for start in range(0, 32, 4)]
    assert sum(b.idx.numel() for b in batches) < sum(b.idx.numel() for b in plain)
    again = Batcher(mix, TOK, batch_size=4, max_len=96, group=4, seed=0)
    assert torch.equal(again(20).idx, batches[5].idx)  # a resumed run sees the same batch


def test_gradient_accumulation_equals_one_larger_batch(monkeypatch):
    """Two micro-batches of 2 equal-length examples give the optimizer the gradient of one
    batch of 4; the step counter counts optimizer steps."""
    import ponder.train.loop as loop_mod

    tok = CharTokenizer()
    exs = [Example(f"Sum {a} {b}\n<think>\n", f"{a + b}\n</think>\nAnswer: {a + b}")
           for a, b in [(1, 2), (3, 4), (2, 5), (4, 4)]]
    real, grads = loop_mod.apply_step, []

    def spy(params, optimizer, grad_clip):
        params = list(params)
        grads.append([p.grad.clone() for p in params])
        real(params, optimizer, grad_clip)

    monkeypatch.setattr(loop_mod, "apply_step", spy)
    for batch, accum in ((4, 1), (2, 2)):
        model = build_model("tiny", tok, seed=0, max_seq_len=64)
        res = finetune(model, tok, exs, TrainConfig(steps=1, batch_size=batch, grad_accum=accum,
                                                    pack=False, length_group=1, lr=1e-2,
                                                    warmup_steps=0, save_every=0, seed=0,
                                                    precision="fp32"),  # exact sums
                       progress=False)
        assert res.step == 1
    assert len(grads) == 2
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_time_budget_includes_the_final_evaluation():
    """--minutes: the run measures its evaluation at the start and stops training early
    enough for the final one, so the whole run stays within the budget."""
    import time

    tok = CharTokenizer()
    exs = [Example("Sum 1 2\n<think>\n", "3\n</think>\nAnswer: 3")] * 4
    calls = []

    def slow_eval(model, step):
        calls.append(step)
        time.sleep(1.5)
        return {"accuracy": 0.0}

    res = finetune(build_model("tiny", tok, seed=0, max_seq_len=64), tok, exs,
                   TrainConfig(steps=None, minutes=0.1, batch_size=2, save_every=0),
                   evaluate=slow_eval, progress=False)
    assert calls[0] == 0 and calls[-1] == res.step > 0  # evaluated at the start and end
    # the run's clock, final evaluation included: a 6 s budget (without the reserve the
    # final evaluation would end it at ~7.5 s)
    assert res.elapsed < 6.0 + 0.8, res.elapsed
