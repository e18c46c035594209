"""Interrupt a training run with SIGKILL after it has saved, resume it, and check it ends
where an uninterrupted run ends."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder.lm.tokenizer import CharTokenizer
from ponder.train.data import TaskMixture
from ponder.train.loop import TrainConfig, TrainResult, train
from ponder.train.sft import build_model
from ponder.train.state import STATE, read_metrics, read_state
from tests.toy import SumTask

ROOT = Path(__file__).resolve().parents[2]
STEPS, SAVE_EVERY = 40, 10


class ShortSumTask(SumTask):
    name = "toysum_short"
    max_difficulty = 3


def run_toy(run_dir: str | None, resume: bool = False, pause: float = 0.0) -> TrainResult:
    """The run under test; ``pause`` slows it so that a kill lands mid-run."""
    tok = CharTokenizer()
    cfg = TrainConfig(steps=STEPS, batch_size=4, warmup_steps=4, log_every=5,
                      save_every=SAVE_EVERY, eval_every=5, precision="fp32", threads=1)

    def evaluate(model, step):
        time.sleep(pause)
        return {}

    return train(build_model("tiny", tok, seed=0, max_seq_len=96), tok,
                 TaskMixture([ShortSumTask()], seed=0), cfg, run_dir, evaluate=evaluate,
                 resume=resume, progress=False)


def _spawn(run_dir: Path, resume: bool, pause: float) -> subprocess.Popen:
    code = ("import sys; from tests.train.test_resume import run_toy; "
            "r = run_toy(sys.argv[1], sys.argv[2] == '1', float(sys.argv[3])); "
            "print('final', r.step, r.loss)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, str(run_dir), str(int(resume)),
                             str(pause)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_reaches_the_same_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = _spawn(run_dir, resume=False, pause=0.5)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / STATE).exists() and read_state(run_dir)["run"]["step"] >= SAVE_EVERY:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = read_state(run_dir)["run"]["step"]  # the state on disk is whole after a kill
    assert SAVE_EVERY <= saved < STEPS

    resumed = _spawn(run_dir, resume=True, pause=0.0)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _, step, loss = out.split()[-3:]
    reference = run_toy(None)  # the same run, never interrupted
    assert int(step) == reference.step == STEPS
    assert float(loss) == pytest.approx(reference.loss, rel=1e-3)
    steps = [r["step"] for r in read_metrics(run_dir) if r["kind"] == "train"]
    assert steps == list(range(5, STEPS + 1, 5))  # no step logged twice, none lost


def test_a_long_run_saves_by_time_as_well_as_by_step(tmp_path, monkeypatch):
    import ponder.train.core as core

    saved: list[int] = []
    real = core.save_state
    monkeypatch.setattr(core, "save_state",
                        lambda run, state, *a: (saved.append(state.step), real(run, state, *a)))
    tok = CharTokenizer()
    # steps alone would save only at the end; a tiny time interval saves every step
    cfg = TrainConfig(steps=4, batch_size=2, warmup_steps=1, save_every=1000,
                      save_minutes=1e-6, precision="fp32", threads=1)
    train(build_model("tiny", tok, seed=0, max_seq_len=96), tok,
          TaskMixture([ShortSumTask()], seed=0), cfg, tmp_path / "run", progress=False)
    assert saved == [1, 2, 3, 4]


def test_a_run_that_saved_nothing_is_not_silently_restarted(tmp_path):
    """Metrics but no state (killed before its first save): a new run there would
    append a second step 1.. to the same metrics file, so it is refused, by name."""
    from ponder.errors import ConfigError
    from ponder.lm.tokenizer import CharTokenizer
    from ponder.train.data import Example, ExampleList
    from ponder.train.loop import TrainConfig, train
    from ponder.train.sft import build_model

    tok = CharTokenizer()
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 10, "kind": "train"}\n')
    data = ExampleList([Example("Sum 1 2\n<think>\n", "3\n</think>\nAnswer: 3")], seed=0)
    with pytest.raises(ConfigError, match="saved no state"):
        train(build_model("tiny", tok), tok, data, TrainConfig(steps=1, batch_size=2), run,
              progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        train(build_model("tiny", tok), tok, data, TrainConfig(steps=1, batch_size=2),
              tmp_path / "file", progress=False)
