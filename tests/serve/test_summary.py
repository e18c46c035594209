import pytest

from ponder.errors import UnknownName
from ponder.lm.function import FunctionLM
from ponder.serve.summary import (
    ExtractiveSummarizer,
    LMSummarizer,
    SummarySource,
    digest,
    get_summarizer,
    key_result,
    resolve_style,
)

ARITH = "a = 17\nb = a + 25 = 42\ncheck: 42 - 25 = 17 ok"
COUNTDOWN = "\n".join(["try 3 + 5 = 8", "8 + 7 = 15, not 22, backtrack", "try 5 * 7 = 35",
                       "35 - 3 = 32, not 22, backtrack", "try 3 * 5 = 15",
                       "15 + 7 = 22 reached"])


def test_key_result_keeps_name_and_final_value():
    assert key_result("b = a + 7 = 12") == "b = 12"
    assert key_result("17 + 25 = 42") == "17 + 25 = 42"
    assert key_result("m=f*v=10*16=160=7") == "m = 7"
    assert key_result("x != 3") == "x != 3"  # not an assignment chain


def test_digest_sorts_lines_into_results_checks_and_backtracks():
    d = digest(ARITH)
    assert (d.steps, d.results, d.backtracks) == (3, ["a = 17", "b = 42"], 0)
    assert d.checks == ["check: 42 - 25 = 17 ok"]
    s = digest(COUNTDOWN)
    assert (s.steps, s.attempts, s.backtracks) == (6, 3, 2)
    assert s.results == ["15 + 7 = 22 reached"]  # attempts and dead ends are not results


def test_search_traces_keep_only_the_path_that_worked():
    # countdown's format: each "back:" line abandons the path tried so far
    trace = ("18+13=31: 31 4\n31+4=35: 35\nback: 18 13 4\n18-4=14: 14 13\n"
             "14+13=27: 27")
    d = digest(trace)
    assert (d.steps, d.backtracks) == (5, 1)
    assert d.results == ["18-4=14: 14 13", "14+13=27: 27"]
    parts = ExtractiveSummarizer().summarize(SummarySource("q", trace, "27"), "detailed")
    assert parts[:2] == ["Worked through 5 steps, backtracking 1 time.",
                         "The path that worked: 18-4=14: 14 13; 14+13=27: 27."]


def test_detailed_summary_reports_results_checks_backtracks_and_agreement():
    src = SummarySource("Use 3 5 7 to reach 22", COUNTDOWN, "3*5+7", ["3*5+7"] * 3 + [None])
    parts = ExtractiveSummarizer().summarize(src, "detailed")
    text = " ".join(parts)
    assert "6 steps, trying 3 candidates and backtracking 2 times." in text
    assert "3 of 4 independent attempts reached 3*5+7" in text
    arith = " ".join(ExtractiveSummarizer().summarize(
        SummarySource("q", ARITH, "42", ["42"]), "detailed"))
    assert "Key results: a = 17; b = 42." in arith and "Checked: check: 42 - 25" in arith
    assert "a + 25" not in arith  # results, not the working


def test_concise_is_one_shorter_sentence_and_auto_is_detailed():
    src = SummarySource("q", COUNTDOWN, "3*5+7", ["3*5+7", "3*5+7"])
    s = ExtractiveSummarizer()
    [concise] = s.summarize(src, "concise")
    detailed = s.summarize(src, "detailed")
    assert concise.count(".") == 1 and len(concise) < len(" ".join(detailed))
    assert "2 backtracks" in concise and "2 of 2" in concise
    assert s.summarize(src, "auto") == detailed


def test_long_result_lists_keep_first_and_last():
    thinking = "\n".join(f"s{i} = {i}" for i in range(10))
    text = " ".join(ExtractiveSummarizer().summarize(SummarySource("q", thinking, "9"),
                                                     "detailed"))
    assert "s0 = 0; s1 = 1; s2 = 2; ...; s7 = 7; s8 = 8; s9 = 9" in text
    assert "s5 = 5" not in text


def test_unanswered_trace_says_so():
    parts = ExtractiveSummarizer().summarize(SummarySource("q", "a = 1", None), "detailed")
    assert parts[-1] == "No final answer was reached within the thinking budget."
    [concise] = ExtractiveSummarizer().summarize(SummarySource("q", "hmm", None), "concise")
    assert "without reaching an answer" in concise


def test_lm_summarizer_prompts_the_model_with_the_thinking_and_style():
    seen = []

    def write(prompt, rng, temperature):
        seen.append((prompt, temperature))
        return "It added 17 and 25 and checked by subtraction.\n\nignored"

    lm = FunctionLM(write)
    parts = LMSummarizer().summarize(SummarySource("What is 17 + 25?", ARITH, "42"),
                                     "concise", lm)
    assert parts == ["It added 17 and 25 and checked by subtraction."]
    prompt, temperature = seen[0]
    assert ARITH in prompt and "in one sentence" in prompt and temperature == 0.0
    own = LMSummarizer(lm)  # a model of its own wins over the one passed in
    assert own.summarize(SummarySource("q", ARITH, "42"), "detailed", None) == parts
    assert "in a short paragraph" in seen[-1][0]


def test_registry_and_styles_reject_unknown_names():
    assert isinstance(get_summarizer("extractive"), ExtractiveSummarizer)
    assert isinstance(get_summarizer("lm"), LMSummarizer)
    with pytest.raises(UnknownName, match="extractive, lm"):
        get_summarizer("abstractive")
    with pytest.raises(UnknownName):
        resolve_style("verbose")
