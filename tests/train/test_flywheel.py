import json

import pytest

import ponder.train.flywheel as fw
from ponder.errors import ConfigError, UnknownName
from ponder.lm.checkpoint import load_checkpoint
from ponder.lm.template import format_prompt
from ponder.lm.tokenizer import CharTokenizer
from ponder.train.flywheel import FlywheelConfig, run_flywheel, search_round
from ponder.train.loop import TrainConfig
from ponder.train.sft import build_model
from tests.toy import SumTask, noisy_policy

TASK = SumTask()
TOK = CharTokenizer()


def expected_labels(problem, completion):
    """PRM800K convention, computed from the toy's rules: steps are positive up to the
    first wrong running sum; the answer line is positive iff everything was right."""
    truth, s = [], 0
    for x in problem.meta["nums"]:
        s += x
        truth.append(f"s={s}")
    lines = [x for x in completion.split("</think>")[0].split("\n") if x.strip()]
    labels, ok = [], True
    for i, line in enumerate(lines):
        ok = ok and i < len(truth) and line == truth[i]
        labels.append(float(ok))
    answer_right = completion.rstrip().endswith(f"Answer: {problem.answer}")
    return labels + [float(ok and answer_right)], float(answer_right)


@pytest.mark.parametrize("strategy,options", [("vote", {}),
                                              ("best_of_n", {"scorer": "verifier"})])
def test_search_round_writes_best_verified_sft_and_labelled_prm_records(strategy, options):
    problems = TASK.problems("train", 10, seed=0, difficulty=3)
    cfg = FlywheelConfig(strategy=strategy, n=6, max_tokens=64, options=options)
    sft, records, stats = search_round(noisy_policy(p_step=0.75), [TASK], problems, cfg, 1)
    assert len(records) == 60 and stats["traces"] == 60
    assert 0 < stats["verified_traces"] < 60
    by_id = {p.id: p for p in problems}
    for r in records:
        labels, outcome = expected_labels(by_id[r["problem"]["id"]], r["completion"])
        assert r["labels"] == labels and r["outcome"] == outcome
        assert len(r["steps"]) == len(r["labels"]) and r["steps"][-1].startswith("Answer:")
        assert r["prompt"] == format_prompt(r["problem"]["prompt"])
    assert any(0.0 in r["labels"] for r in records)  # failed traces give negative steps
    solved = {r["problem"]["id"] for r in records if r["outcome"]}
    assert stats["solved"] == len(sft) == len(solved)
    by_prompt = {p.prompt: p for p in problems}
    for ex in sft:  # every SFT example is a verified trace of its problem
        problem = by_prompt[ex.prompt.split("\n")[0]]
        assert TASK.verify(problem, ex.completion) == 1.0


def test_run_flywheel_writes_data_and_retrains(tmp_path):
    from tests.train.test_star import ScriptedPolicy

    base = ScriptedPolicy(build_model("tiny", TOK, seed=0, max_seq_len=96), TOK,
                          noisy_policy(p_step=0.8))
    cfg = FlywheelConfig(rounds=2, strategy="vote", n=4, max_tokens=64, problems=8,
                         difficulty=[2], eval_n=4)
    calls = []

    def prm_hook(records, model, out):
        calls.append((len(records), out.name))
        return None

    rows = run_flywheel(base, [TASK], cfg, TrainConfig(steps=2, batch_size=4, save_every=0),
                        tmp_path, prm_trainer=prm_hook, progress=False)
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert calls == [(32, "prm"), (64, "prm")]  # the PRM sees every round's traces so far
    for n in (1, 2):
        prm = [json.loads(x) for x in (tmp_path / f"round{n}" / "prm.jsonl").read_text()
               .splitlines()]
        sft = [json.loads(x) for x in (tmp_path / f"round{n}" / "sft.jsonl").read_text()
               .splitlines()]
        assert len(prm) == 32 and set(prm[0]) >= {"prompt", "steps", "labels", "outcome"}
        assert len(sft) == rows[n]["solved"] > 0
        assert load_checkpoint(tmp_path / f"round{n}" / "checkpoint")[0] is not None
    summary = [json.loads(x) for x in (tmp_path / "flywheel.jsonl").read_text().splitlines()]
    assert [r["round"] for r in summary] == [0, 1, 2]


def test_flywheel_config_validation():
    with pytest.raises(UnknownName):
        FlywheelConfig(strategy="nope")
    with pytest.raises(ConfigError):
        FlywheelConfig(n=0)
    assert fw.prm_trainer_from is not None


def test_best_trace_prefers_correct_steps_then_fewer_tokens():
    from ponder.think.base import Result, Trace
    from ponder.think.compute import Compute
    from ponder.train.flywheel import label_traces
    from ponder.train.rewards import task_verifier

    p = TASK.problems("train", 1, seed=0, difficulty=1)[0]
    a, b = p.meta["nums"]
    right = f"s={a}\ns={a + b}\n</think>\nAnswer: {a + b}"
    wrong_steps = f"s={a + 1}\n</think>\nAnswer: {a + b}"  # right answer, wrong step, shorter
    longer_right = f"s={a}\n\ns={a + b}\n</think>\nAnswer: {a + b}"
    traces = [Trace(c, str(a + b), tokens=len(c)) for c in (wrong_steps, longer_right, right)]
    records, ex = label_traces(TASK, p, Result(str(a + b), right, traces, Compute()),
                               task_verifier([TASK]), 1)
    assert ex.completion == right
    assert [r["labels"] for r in records] == [[0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def test_prm_hook_trains_a_reward_model_on_flywheel_records(tmp_path):
    from ponder.lm.reward import load_reward_model
    from ponder.train.prm import RewardTrainConfig

    problems = TASK.problems("train", 4, seed=0, difficulty=2)
    _, records, _ = search_round(noisy_policy(0.7), [TASK], problems,
                                 FlywheelConfig(n=2, max_tokens=64), 1)
    from ponder.train.policy import NativePolicy

    policy = NativePolicy(build_model("tiny", TOK, seed=0, max_seq_len=96), TOK)
    train_prm = fw.prm_trainer_from(RewardTrainConfig(steps=2, batch_size=4, warmup=1))
    scorer = train_prm(records, policy, tmp_path / "prm")
    scores = scorer.score_steps([records[0]["prompt"]], [records[0]["completion"]])
    assert len(scores[0]) == len(records[0]["labels"])
    assert load_reward_model(tmp_path / "prm")[0].rcfg.kind == "prm"
