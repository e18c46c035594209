import pytest

from ponder.eval.scale import ScaleConfig, plot, run_scale, summarize
from ponder.think import Scorers
from tests.toy import SumTask, noisy_policy


def test_vote_accuracy_rises_with_budget_and_compute_is_accounted(tmp_path):
    task, lm = SumTask(), noisy_policy(p_step=0.85)
    cfg = ScaleConfig(strategies=["greedy", "vote"], budgets=[1, 9], n_problems=30,
                      difficulty=[3], max_tokens=64)
    records = run_scale(lm, task, cfg)
    assert len(records) == 2 * 2 * 30
    s = summarize(records)
    acc = {(r["strategy"], r["budget"]): r for r in s["overall"]}
    assert acc[("vote", 9)]["accuracy"] > acc[("vote", 1)]["accuracy"] + 0.1
    # nine times the generated tokens; FLOPs grow a bit less since the prompt is shared
    assert abs(acc[("vote", 9)]["tokens"] - 9 * acc[("vote", 1)]["tokens"]) < 0.05 * 9 * 37
    assert 5 * acc[("vote", 1)]["flops"] < acc[("vote", 9)]["flops"] < 9 * acc[("vote", 1)]["flops"]
    assert acc[("greedy", 1)]["accuracy"] == 1.0  # the fake policy is exact at T=0
    cov = s["coverage"]
    assert cov["n"] == 9 and cov["pass_at_k"]["1"] <= cov["pass_at_k"]["8"]
    plot(s, str(tmp_path / "curve.png"), "toy")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_config_errors_name_the_problem():
    import pytest

    from ponder.errors import ConfigError, UnknownName

    with pytest.raises(UnknownName, match="strategy"):
        ScaleConfig(strategies=["nope"], budgets=[1])
    with pytest.raises(ConfigError, match="budgets"):
        ScaleConfig(strategies=["vote"], budgets=[0])
    with pytest.raises(ConfigError, match="at least one level"):
        ScaleConfig(strategies=["vote"], budgets=[1], difficulty=[])
    with pytest.raises(ConfigError, match="map each strategy"):
        ScaleConfig(strategies=["beam"], budgets=[4], options={"beam_width": 2})
    with pytest.raises(ConfigError, match=r"options given for \['bean'\]"):
        ScaleConfig(strategies=["beam"], budgets=[4], options={"bean": {"beam_width": 2}})
    with pytest.raises(ConfigError, match="concurrency"):
        ScaleConfig(strategies=["vote"], budgets=[1], concurrency=0)
    with pytest.raises(ConfigError, match="labels must differ"):
        ScaleConfig(strategies=["vote", "vote=best_of_n"], budgets=[1])
    with pytest.raises(UnknownName, match="strategy"):
        ScaleConfig(strategies=["a=nope"], budgets=[1])
    with pytest.raises(ConfigError, match="label=strategy"):
        ScaleConfig(strategies=["=vote"], budgets=[1])


def test_labelled_variants_of_one_strategy_run_side_by_side_on_the_same_samples():
    """prm=best_of_n and orm=best_of_n: options and records go by label, the samples
    (same seeds) are the same, so only the choosing differs."""
    task, lm = SumTask(), noisy_policy(p_step=0.6)
    verifier = Scorers(verifier=task.verify)
    cfg = ScaleConfig(strategies=["vote", "oracle=best_of_n", "first=best_of_n"],
                      budgets=[6], n_problems=30, difficulty=[3], max_tokens=64,
                      options={"oracle": {"scorer": "verifier"},
                               "first": {"scorer": "verifier", "weighted": True}})
    records = run_scale(lm, task, cfg, verifier)
    by = {}
    for r in records:
        by.setdefault(r["strategy"], []).append(r)
    assert set(by) == {"vote", "oracle", "first"}
    assert {r["method"] for r in by["oracle"]} == {"best_of_n"}
    same = [r["samples_correct"] for r in by["vote"]]
    assert [r["samples_correct"] for r in by["oracle"]] == same  # the same samples
    # the verifier picks a right sample whenever there is one: pass@6
    assert [r["correct"] for r in by["oracle"]] == [c > 0 for c in same]
    assert sum(r["correct"] for r in by["oracle"]) > sum(r["correct"] for r in by["vote"])
    s = summarize(records)
    assert s["coverage"]["n"] == 6  # coverage reads labelled best_of_n runs too
    assert {(c["a"], c["b"]) for c in s["paired"]} >= {("oracle@6", "vote@6")}


class ScriptLM:
    """The first n of ``texts(prompt)`` as the samples of each prompt."""

    name, flops_per_token, max_context = "script", 10.0, 4096

    def __init__(self, texts):
        self.texts = texts

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, prompts, n=1, max_tokens=256, temperature=1.0, top_p=1.0, stop=None,
                 seed=None):
        from ponder.lm.base import Completion

        rows = [self.texts(p)[:n] for p in prompts]
        assert all(len(r) == n for r in rows)
        return [[Completion(t, len(p), len(t), finish_reason="eos") for t in r]
                for p, r in zip(prompts, rows, strict=True)]


def sums(prompt: str) -> list[str]:
    """Three completions end in the right sum without an answer line, then two answer a
    wrong sum and one the right sum on their answer line."""
    from tests.toy import nums_of

    right = sum(nums_of(prompt))
    return [f"s={right}\n</think>\n{right}"] * 3 + \
        [f"s={right + 1}\n</think>\nAnswer: {right + 1}"] * 2 + \
        [f"s={right}\n</think>\nAnswer: {right}"]


class LenientSumTask(SumTask):
    name = "toysum-lenient"
    answer_rule = "lenient"


@pytest.mark.parametrize("task_cls,n_right,vote_right", [
    (SumTask, 1, False),  # built-in style: only the answer line counts, so 2 to 1 for wrong
    (LenientSumTask, 4, True),  # lenient: the bare right sums count, 4 to 2
])
def test_correctness_agrees_with_the_tasks_own_verify(task_cls, n_right, vote_right):
    task = task_cls()
    cfg = ScaleConfig(strategies=["greedy", "vote"], budgets=[6], n_problems=3,
                      difficulty=[2], temperature=0.0)
    records = run_scale(ScriptLM(sums), task, cfg)
    problems = {p.id: p for p in task.problems("test", 3, difficulty=[2])}
    for r in records:
        texts = sums(problems[r["problem"]].prompt)[: r["samples"]]
        verified = [(task.verify(problems[r["problem"]], t) or 0.0) >= 1.0 for t in texts]
        assert r["samples_correct"] == sum(verified)
        assert r["answer_rule"] == task.answer_rule
        if r["strategy"] == "greedy":  # one sample: the bare right sum
            assert r["correct"] == verified[0] == (task.answer_rule == "lenient")
        else:
            assert (r["samples_correct"], r["correct"]) == (n_right, vote_right)
    assert summarize(records)["answer_rules"] == [task.answer_rule]


def test_a_code_answer_is_judged_as_written():
    from ponder.eval.scale import is_correct

    class CodeTask(SumTask):
        answer_rule = "code"

        def verify(self, problem, completion):
            return float(completion == "def f():\n    return 1")

    p = CodeTask().problems("test", 1)[0]
    assert is_correct(CodeTask(), p, "def f():\n    return 1")
    assert not is_correct(CodeTask(), p, None)


def test_what_a_budget_means_is_up_to_the_strategy(monkeypatch):
    """run_scale names no strategy: a new one whose module declares BUDGET_OPTION gets
    each budget in that option, and n from its options."""
    import sys
    import types

    from ponder.think import STRATEGIES
    from ponder.think.base import Result
    from ponder.think.compute import Compute
    from tests.toy import SumTask

    seen = []

    def capped(problem, lm, budget, scorers=None, seed=0):
        seen.append((budget.n, budget.options))
        return Result(None, "", [], Compute())

    module = types.ModuleType("capped_strategy")
    module.capped, module.BUDGET_OPTION = capped, "cap"
    monkeypatch.setitem(sys.modules, "capped_strategy", module)
    monkeypatch.setitem(STRATEGIES, "capped", "capped_strategy:capped")
    cfg = ScaleConfig(strategies=["capped"], budgets=[5, 20], n_problems=1,
                      options={"capped": {"n": 2, "x": 1}})
    run_scale(ScriptLM(sums), SumTask(), cfg)
    assert seen == [(2, {"x": 1, "cap": 5}), (2, {"x": 1, "cap": 20})]


class LinePRM:
    """A stand-in step scorer: a fixed function of each line's text."""

    flops_per_token = 1.0

    def score_steps(self, prompts: list[str], completions: list[str]) -> list[list[float]]:
        return [[(sum(map(ord, line)) % 11) / 10 for line in c.split("\n")] for c in completions]


@pytest.mark.parametrize("backend", ["native", "function"])
def test_concurrent_problems_give_the_records_of_one_at_a_time(backend):
    from ponder.lm.native import NativeLM
    from tests.lm.test_sampler import TOK, tiny

    task = SumTask()
    lm = NativeLM(tiny(), TOK) if backend == "native" else noisy_policy(p_step=0.7)
    search = ["beam"] if backend == "native" else []  # the toy policy writes whole traces
    kw = dict(strategies=["greedy", "vote", *search], budgets=[4], n_problems=12,
              difficulty=[2, 3], max_tokens=24)
    one = run_scale(lm, task, ScaleConfig(**kw, concurrency=1), Scorers(prm=LinePRM()))
    many = run_scale(lm, task, ScaleConfig(**kw, concurrency=8), Scorers(prm=LinePRM()))
    keep = ("strategy", "problem", "correct", "samples_correct", "generated_tokens",
            "scorer_tokens")
    assert [[r[k] for k in keep] for r in many] == [[r[k] for k in keep] for r in one]
    if backend == "native":
        assert lm.sampler.engine.peak_rows > 4  # problems were decoded side by side


def test_summary_carries_intervals_and_paired_comparisons():
    task, lm = SumTask(), noisy_policy(p_step=0.8)
    cfg = ScaleConfig(strategies=["greedy", "vote"], budgets=[1, 9], n_problems=40,
                      difficulty=[3], max_tokens=64)
    s = summarize(run_scale(lm, task, cfg))
    for row in s["overall"]:
        lo, hi = row["ci95"]
        assert lo <= row["accuracy"] <= hi and row["n"] == 40
    pairs = {(c["a"], c["b"]): c for c in s["paired"]}
    # every arm against the cheapest greedy one, and strategies at equal budget
    assert set(pairs) == {("greedy@1", "greedy@9"), ("greedy@1", "vote@1"),
                          ("greedy@1", "vote@9"), ("greedy@9", "vote@9")}
    c = pairs[("greedy@1", "vote@9")]
    assert c["n"] == 40 and c["test"] == "mcnemar"
    assert c["diff"] == pytest.approx(c["mean_b"] - c["mean_a"])
    # the toy policy is exact at T=0: vote can only lose problems to greedy
    assert c["wins"] == 0 and c["verdict"] in ("worse", "no difference")
