"""A fake reasoner for the serving tests.

``FakeReasoner`` is a FunctionLM that writes thinking traces in the built-in model's
format (step lines, ``</think>``, ``Answer: X``) for three kinds of question:

- "What is A + B?": two result lines and a check; always right, even when sampled;
- the same with "hard" in it: sampled answers scatter, so probes disagree;
  with "long" in it: 400 lines of thinking first, to run out of tokens;
- "Use 3 5 7 to reach 22": a countdown search with two backtracks.

Its tokenizer is the built-in character one, so characters outside the vocabulary are
rejected as they are by the real model.
"""

from __future__ import annotations

import random
import re
import threading
import time

from ponder.lm.function import FunctionLM
from ponder.lm.tokenizer import CharTokenizer

MODEL = "fake-reasoner"


def think(prompt: str, rng: random.Random, temperature: float) -> str:
    question = prompt.split("\n<think>\n")[0]
    if m := re.search(r"(-?\d+)\s*\+\s*(-?\d+)", question):
        a, b = int(m[1]), int(m[2])
        answer = a + b
        if "hard" in question and temperature > 0:
            answer += rng.choice([0, 1, 2, 3, 4, 5])
        lines = [f"a = {a}", f"b = a + {b} = {answer}", f"check: {answer} - {b} = {a} ok"]
        if "long" in question:
            lines = [f"step {i}: still thinking about {a} + {b}" for i in range(400)] + lines
    elif "reach 22" in question:
        lines = ["try 3 + 5 = 8", "8 + 7 = 15, not 22, backtrack", "try 5 * 7 = 35",
                 "35 - 3 = 32, not 22, backtrack", "try 3 * 5 = 15", "15 + 7 = 22 reached"]
        answer = "3 * 5 + 7"
    else:
        lines, answer = ["nothing to compute"], "unknown"
    return "".join(f"{s}\n" for s in lines) + f"</think>\nAnswer: {answer}"


class FakeReasoner(FunctionLM):
    """``delay_s`` per sample makes generation take time; ``samples`` counts them. With
    ``gate``, every sample first waits for the event (a request held as long as a test
    needs, however slow the machine)."""

    def __init__(self, delay_s: float = 0.0, max_context: int = 4096,
                 gate: threading.Event | None = None):
        self.delay_s, self.samples, self.gate = delay_s, 0, gate
        self._lock = threading.Lock()
        super().__init__(self._think, name=MODEL, max_context=max_context)
        self._tok = CharTokenizer()

    def _think(self, prompt: str, rng: random.Random, temperature: float) -> str:
        with self._lock:
            self.samples += 1
        if self.gate is not None:
            self.gate.wait(timeout=60)
        if self.delay_s:
            time.sleep(self.delay_s)
        return think(prompt, rng, temperature)

    def count_tokens(self, text: str) -> int:
        return len(self._tok.encode(text))
