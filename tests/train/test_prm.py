import torch

from ponder.lm.model import ModelConfig, Transformer
from ponder.lm.template import format_prompt
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.policy import NativePolicy
from ponder.train.prm import (
    RewardTrainConfig,
    Sample,
    exact_labels,
    label_exact,
    mc_labels,
    reward_model_loss,
    sample_policy,
    step_accuracy,
    train_reward_model,
)
from tests.toy import SumTask, chat_layout, noisy_policy, own_layout

TASK = SumTask()


def resolve(name):
    return TASK


def test_exact_labels_turn_negative_at_the_first_error():
    p = TASK.problems("train", 1, seed=1, difficulty=3)[0]
    good = TASK.trace_steps(p)
    bad = [good[0], good[1] + "0", *good[2:]]
    comp = "".join(f"{s}\n" for s in bad) + f"</think>\nAnswer: {p.answer}"
    labels, outcome = exact_labels(TASK, p, comp)
    assert labels == [1.0, 0.0, 0.0, 0.0, 0.0]  # 4 steps + the answer line
    assert outcome == 1.0  # right answer, wrong path: the outcome alone can't tell


def test_monte_carlo_labels_match_whether_a_prefix_can_still_succeed():
    lm = noisy_policy(p_step=1.0)  # continues any prefix correctly
    p = TASK.problems("train", 1, seed=2, difficulty=2)[0]
    steps = TASK.trace_steps(p)
    wrong = [steps[0], *(f"s={int(x[2:]) + 1}" for x in steps[1:])]  # error carried on
    s_ok = Sample(p, "".join(f"{x}\n" for x in steps) + f"</think>\nAnswer: {p.answer}")
    s_bad = Sample(p, "".join(f"{x}\n" for x in wrong) + "</think>\nAnswer: 0")
    mc_labels(lm, [s_ok, s_bad], k=3, max_tokens=64, resolve=resolve)
    assert s_ok.labels == [1.0, 1.0, 1.0, 1.0] and s_ok.outcome == 1.0
    assert s_bad.labels == [1.0, 0.0, 0.0, 0.0] and s_bad.outcome == 0.0


def test_loss_is_bce_at_the_given_positions_only():
    logits = torch.zeros(2, 5)
    logits[0, 1] = 10.0
    loss = reward_model_loss(logits, [[1], [2, 4]], [[1.0], [0.5, 0.5]])
    expected = (torch.nn.functional.softplus(torch.tensor(-10.0)) + 2 * torch.log(
        torch.tensor(2.0))) / 3
    assert torch.allclose(loss, expected, atol=1e-5)


def test_prm_learns_to_flag_marked_wrong_steps():
    torch.manual_seed(0)
    tok = CharTokenizer()
    cfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, d_model=48, d_ff=96,
                      max_seq_len=128)
    lm = noisy_policy(p_step=0.7, marker="?")
    train = sample_policy(lm, TASK.problems("train", 40, seed=0), 4, 128)
    test = sample_policy(lm, TASK.problems("test", 20, seed=0), 4, 128)
    label_exact(train, resolve)
    label_exact(test, resolve)
    scorer = train_reward_model(NativePolicy(Transformer(cfg), tok), train,
                                RewardTrainConfig(steps=120, batch_size=16, lr=3e-3,
                                                  warmup=10))
    acc = step_accuracy(scorer, test)
    assert acc["steps"] > 100
    assert acc["step_accuracy"] > acc["majority_baseline"] + 0.1, acc
    # and the scorer reads whole solutions through their last step
    good = [s for s in test if s.outcome == 1.0 and all(y == 1.0 for y in s.labels)][0]
    bad = [s for s in test if s.labels and s.labels[0] == 0.0][0]
    sc = scorer.score([format_prompt(good.problem.prompt), format_prompt(bad.problem.prompt)],
                      [good.completion, bad.completion])
    assert sc[0] > sc[1]


def test_config_errors_and_no_warmup():
    import pytest

    from ponder.errors import PonderError

    for bad in ({"kind": "vrm"}, {"steps": 0}, {"lr": 0.0}, {"warmup": -1},
                {"weight_decay": -0.1}):
        with pytest.raises(PonderError, match="must"):
            RewardTrainConfig(**bad)
    tok = CharTokenizer()
    cfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=16, d_ff=32,
                      max_seq_len=64)
    p = TASK.problems("train", 1, seed=0, difficulty=1)[0]
    sample = Sample(p, "s=1\n</think>\nAnswer: 1", labels=[1.0, 1.0], outcome=1.0)
    scorer = train_reward_model(NativePolicy(Transformer(cfg), tok), [sample],
                                RewardTrainConfig(steps=2, batch_size=1, warmup=0))
    assert not scorer.model.training  # warmup=0 trains at the full rate from the first step


def test_a_policy_with_its_own_layout_is_sampled_and_continued_in_it():
    lm = own_layout(noisy_policy(p_step=1.0))
    inner, seen = lm.fn, []
    lm.fn = lambda prompt, rng, temperature: seen.append(prompt) or inner(prompt, rng,
                                                                           temperature)
    problems = TASK.problems("train", 2, seed=2, difficulty=2)
    heads = {chat_layout(p.prompt) for p in problems}
    samples = sample_policy(lm, problems, 2, 64)
    assert set(seen) == heads
    seen.clear()
    mc_labels(lm, samples, k=2, max_tokens=64, resolve=resolve)
    assert all(s.labels == [1.0] * 4 and s.outcome == 1.0 for s in samples)  # 3 steps + answer
    assert seen and all(any(x.startswith(h) and x != h for h in heads) for x in seen)
