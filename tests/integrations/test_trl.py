"""The TRL bridge: ponder's tasks as a ``datasets.Dataset`` and its verifiers as TRL
reward functions, checked on their own and inside two steps of TRL's GRPOTrainer on a
tiny random Llama with ponder's character tokenizer."""

import json

import pytest

from ponder.errors import InvalidInput, UnknownName
from ponder.lm.template import THINK_INSTRUCTION, format_completion, format_prompt
from ponder.tasks import BUILTIN, get_task
from ponder.tasks.base import Problem

datasets = pytest.importorskip("datasets", reason="the TRL bridge needs `datasets` "
                               "(pip install ponder[trl])")
from ponder.integrations.trl import (  # noqa: E402
    problem_row,
    task_dataset,
    task_reward,
    visible_answer,
)


def teacher(task, p):
    """The teacher's completion, as a model would write it after the prompt."""
    return format_completion(task.teacher_trace(p))


def test_task_dataset_has_prompts_answers_and_problems_that_round_trip():
    data = task_dataset("arith,chain", 3, seed=1, difficulty=1)
    assert isinstance(data, datasets.Dataset) and len(data) == 6
    assert {"prompt", "answer", "task", "difficulty", "problem"} <= set(data.column_names)
    want = [p for name in ("arith", "chain")
            for p in get_task(name).problems("train", 3, seed=1, difficulty=1)]
    for row, p in zip(data, want, strict=True):
        assert row["prompt"] == format_prompt(p.prompt) and row["answer"] == p.answer
        assert Problem.from_dict(json.loads(row["problem"])) == p
    direct = task_dataset("arith", 1, think=False)[0]["prompt"]
    assert direct.endswith("<think>\n</think>\n")


def test_prompts_in_a_models_own_layout_or_as_messages():
    class Chat:  # any LM with its own layout (HFLM with a chat template has one)
        def format_prompt(self, question, think=True):
            return f"<user>{question}<ai><think>\n"

    p = get_task("arith").problems("train", 1)[0]
    assert problem_row(p, lm=Chat())["prompt"] == f"<user>{p.prompt}<ai><think>\n"
    messages = problem_row(p, conversational=True)["prompt"]
    assert messages == [{"role": "system", "content": THINK_INSTRUCTION},
                        {"role": "user", "content": p.prompt}]
    with pytest.raises(InvalidInput):
        problem_row(p, lm=Chat(), conversational=True)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_the_reward_is_the_tasks_verifier_on_the_visible_answer(name):
    task = get_task(name)
    problems = task.problems("train", 2, seed=3)
    rows = [problem_row(p) for p in problems]
    right = [teacher(task, p) for p in problems]
    wrong = [c.rsplit("Answer: ", 1)[0] + "Answer: -12345" for c in right]
    stripped = [c.replace("</think>", "") for c in right]  # as TRL decodes it
    as_chat = [[{"role": "assistant", "content": c}] for c in right]
    inside = [c.replace("</think>\nAnswer:", "Answer:") + "\n</think>\n" for c in right]
    reward = task_reward()  # task families looked up by name
    for completions, want in [(right, 1.0), (wrong, 0.0), (stripped, 1.0), (as_chat, 1.0),
                              (inside, None)]:
        got = reward([r["prompt"] for r in rows], completions,
                     problem=[r["problem"] for r in rows], answer=[r["answer"] for r in rows],
                     completion_ids=[[1]] * len(rows))
        assert got == [want] * len(rows), (name, completions)


def test_reward_options_and_errors():
    p = get_task("arith").problems("train", 1)[0]
    row = problem_row(p)
    assert task_reward("arith", no_answer=-0.5)([row["prompt"]], ["no idea"],
                                                 problem=[row["problem"]]) == [-0.5]
    with pytest.raises(UnknownName):
        task_reward("chain")([row["prompt"]], ["Answer: 1"], problem=[row["problem"]])
    with pytest.raises(InvalidInput, match="'problem' column"):
        task_reward()([row["prompt"]], ["Answer: 1"], answer=[p.answer])
    assert visible_answer("a\n</think>\nAnswer: 1") == "Answer: 1"


def test_grpo_trainer_runs_two_steps_with_the_dataset_and_reward(tmp_path):
    trl = pytest.importorskip("trl", reason="TRL is not installed (pip install ponder[trl])")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from ponder.lm.tokenizer import CharTokenizer

    tok = CharTokenizer()
    tok.save(tmp_path / "tok")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp_path / "tok")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
        bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id))

    data = task_dataset("arith", 4, difficulty=1)
    reward = task_reward("arith", no_answer=0.0)
    calls = []

    def ponder_verifier(prompts, completions, **columns):
        scores = reward(prompts, completions, **columns)
        calls.append((prompts, completions, columns, scores))
        return scores

    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=8, learning_rate=1e-3, logging_steps=1,
        report_to="none", save_strategy="no", use_cpu=True, bf16=False, seed=0,
        dataloader_num_workers=0)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[ponder_verifier], args=args,
                              train_dataset=data, processing_class=tokenizer)
    trainer.train()

    assert trainer.state.global_step == 2 and len(calls) == 2
    for prompts, completions, columns, scores in calls:
        assert len(prompts) == len(completions) == len(scores) == 2
        assert set(prompts) <= set(data["prompt"])  # our prompts, as laid out
        assert set(columns["problem"]) <= set(data["problem"])  # our columns reach it
        assert scores == reward(prompts, completions, problem=columns["problem"])
    # what TRL logged as our reward is what we returned (a random model earns 0.0 here:
    # it writes no answer line in 8 characters)
    logged = [h["rewards/ponder_verifier/mean"] for h in trainer.state.log_history
              if "rewards/ponder_verifier/mean" in h]
    assert logged == pytest.approx([sum(c[3]) / len(c[3]) for c in calls])
