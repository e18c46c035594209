"""The serving engine: validates a request, queues it, thinks in a worker thread, and
turns the chosen chain of thought into what a client may see.

    request -> Engine.prepare (400 on bad input) -> Engine.submit (429 when full) -> Job
    worker thread: EffortPolicy.think(problem, RequestLM) -> Outcome
    RequestLM.generate -> the LM itself, when it batches concurrent calls row by row
                          (the built-in model's engine), else a Batcher (merges
                          concurrent calls into one LM.generate)

Each request sees the model through a ``RequestLM`` that splits a call for many samples
into chunks of ``samples_per_call``. That is what makes long searches observable and
stoppable: after each chunk the job's progress (tokens so far) is updated, and a
cancelled job (the client went away) raises ``Cancelled`` before the next chunk is asked
for. Chunks of concurrent requests are batched again: row by row in the built-in model's
engine, call by call in the batcher of any other backend.

The strategies of ``ponder.think`` ask the model they are given for its prompt
(``prompt_of`` -> ``prompt_for``), but they know only the question joined from the
conversation, not its roles. So the ``RequestLM`` keeps ponder's raw layout (it has no
``format_prompt``) and, for a model with its own layout (an instruct model's chat
template), puts the model's prompt for the request's conversation, roles and all, in place
of that raw head, so every strategy asks the model what the client sent.

The chain of thought never leaves the engine: an ``Outcome`` holds only the visible
answer, token counts, a summary and how the effort level was resolved.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import ConfigError, InvalidInput, PonderError
from ponder.lm.base import LM, Cancelled, Completion
from ponder.lm.batching import Batcher, Call, Direct, call_runner
from ponder.lm.template import (
    THINK_CLOSE,
    THINK_OPEN,
    Message,
    chat_prompt_for,
    format_prompt,
    split_thinking,
)
from ponder.serve.effort import EFFORTS, EffortPolicy, Thought
from ponder.serve.errors import BadRequest, Overloaded, Unavailable
from ponder.serve.summary import STYLES, ExtractiveSummarizer, Summarizer, SummarySource
from ponder.tasks.base import Problem
from ponder.think import Scorers
from ponder.think.steps import derive_seed


@dataclass
class Query:
    """A validated request, ready to think about."""

    question: str
    prompt_tokens: int
    effort: str
    max_tokens: int  # per chain of thought
    total_tokens: int | None = None  # all chains of one choice (max_completion_tokens)
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    summary: str | None = None  # summary style, None for no summary
    messages: list[Message] | None = None  # the conversation, roles kept (None: question)
    prompt: str = ""  # the model's own prompt for it (see ``RequestLM``)


@dataclass
class Choice:
    content: str  # the visible answer, after the thinking
    finish_reason: str  # "stop" or "length" (thinking or answer cut by the token limit)
    completion_tokens: int  # every token generated, reasoning included
    reasoning_tokens: int  # the hidden ones: every sample's thinking, unchosen answers
    summary: list[str]
    info: dict[str, Any]  # protocol.ThinkingInfo fields


@dataclass
class Outcome:
    choices: list[Choice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)

    @property
    def reasoning_tokens(self) -> int:
        return sum(c.reasoning_tokens for c in self.choices)


class Job:
    """One request in flight: its future, its progress and its cancel switch."""

    def __init__(self, query: Query):
        self.query = query
        self.started = time.monotonic()
        self.cancelled = threading.Event()
        self.stage = "queued"
        self.tokens = 0  # generated so far, every sample included
        self.samples = 0
        self.future: Future[Outcome] = Future()

    def cancel(self) -> None:
        self.cancelled.set()
        self.future.cancel()  # effective only while still queued

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()

    def progress(self) -> dict[str, Any]:
        return {"elapsed_s": round(time.monotonic() - self.started, 3),
                "reasoning_tokens": self.tokens, "samples": self.samples, "stage": self.stage}


class RequestLM:
    """The model as one request sees it: calls go through the batcher in chunks,
    update the job's progress, and stop once the job is cancelled. A prompt that starts
    with the raw layout of the request's question starts with the model's own prompt for
    the request instead (the two are the same for ponder's own models)."""

    def __init__(self, lm: LM, batcher: Batcher | Direct, job: Job, samples_per_call: int):
        self.name, self.flops_per_token = lm.name, lm.flops_per_token
        self.max_context = lm.max_context
        self._lm, self._batcher, self._job, self._chunk = lm, batcher, job, samples_per_call
        q = job.query
        # a direct prompt extends the thinking one (open_thinking), so one head serves both
        self._raw = format_prompt(q.question)
        self._own = q.prompt or self._raw

    def _own_layout(self, prompt: str) -> str:
        if self._own == self._raw or not prompt.startswith(self._raw):
            return prompt
        return self._own + prompt[len(self._raw):]

    def count_tokens(self, text: str) -> int:
        return self._lm.count_tokens(text)

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        out: list[list[Completion]] = [[] for _ in prompts]
        prompts = [self._own_layout(p) for p in prompts]
        for k, start in enumerate(range(0, n, self._chunk)):
            self._job.check()
            s = seed if k == 0 or seed is None else derive_seed(seed, "serve", "chunk", k)
            call = Call(prompts, min(self._chunk, n - start), max_tokens, temperature, top_p,
                        stop, s, cancelled=self._job.cancelled)
            rows = self._batcher.run(call)
            for row, got in zip(out, rows, strict=True):
                row.extend(got)
                self._job.tokens += sum(c.tokens for c in got)
                self._job.samples += len(got)
        return out


class Engine:
    """Owns the model, the queue and the worker threads.

    ``max_pending`` bounds the requests queued or running (more get a 429); ``workers``
    is how many think at once (their LM calls are merged by the batcher);
    ``max_tokens`` caps each chain of thought (default: whatever the context leaves).
    """

    def __init__(self, lm: LM, name: str | None = None, *, policy: EffortPolicy | None = None,
                 scorers: Scorers | None = None, summarizer: Summarizer | None = None,
                 default_effort: str = "medium", max_tokens: int | None = None,
                 max_pending: int = 64, workers: int = 16, samples_per_call: int = 4,
                 batch_window_s: float = 0.002, max_batch_sequences: int = 64):
        if default_effort not in EFFORTS:
            raise ConfigError(f"default effort must be one of {EFFORTS}, got {default_effort!r}")
        if min(max_pending, workers, samples_per_call, max_batch_sequences) < 1:
            raise ConfigError("max_pending, workers, samples_per_call and max_batch_sequences "
                              "must be >= 1")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        self.lm, self.name = lm, name or lm.name
        self.policy = policy or EffortPolicy()
        self.scorers, self.summarizer = scorers, summarizer or ExtractiveSummarizer()
        self.default_effort, self.max_tokens = default_effort, max_tokens
        self.max_pending, self.samples_per_call = max_pending, samples_per_call
        self.batcher = call_runner(lm, batch_window_s, max_batch_sequences)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ponder-think")
        self._lock = threading.Lock()
        self._jobs: set[Job] = set()

    @property
    def pending(self) -> int:
        """Requests queued or running."""
        return len(self._jobs)

    # -- admission ------------------------------------------------------------------
    def prepare(self, question: str, *, param: str = "messages", effort: str | None = None,
                max_completion_tokens: int | None = None, n: int = 1,
                temperature: float | None = None, top_p: float | None = None,
                seed: int | None = None, stop: list[str] | None = None,
                summary: str | None = None, messages: list[Message] | None = None) -> Query:
        """Check the input against the model (raising ``BadRequest``) and size the budget.
        ``messages``, the conversation ``question`` was joined from, keeps its roles for
        models with a chat template."""
        effort = effort or self.default_effort
        if effort not in EFFORTS:
            raise BadRequest(f"reasoning effort must be one of {', '.join(EFFORTS)}, got "
                             f"{effort!r}", param="reasoning_effort", code="invalid_value")
        if summary is not None and summary not in STYLES:
            raise BadRequest(f"summary must be one of {', '.join(STYLES)}, got {summary!r}",
                             param="reasoning.summary", code="invalid_value")
        if n < 1:
            raise BadRequest(f"n must be at least 1, got {n}.", param="n",
                             code="invalid_value")
        if not question.strip():
            raise BadRequest("The input is empty: send a question to think about.",
                             param=param, code="empty_input")
        if THINK_OPEN in question or THINK_CLOSE in question:
            raise BadRequest(f"The input may not contain the reserved markers {THINK_OPEN} "
                             f"and {THINK_CLOSE}.", param=param, code="invalid_value")
        try:
            prompt = chat_prompt_for(self.lm, messages or [{"role": "user",
                                                            "content": question}])
        except PonderError:
            raise
        except Exception as e:  # e.g. a template that wants user and assistant to alternate
            raise BadRequest(f"The model's chat template cannot render this conversation "
                             f"({e}).", param=param, code="invalid_value") from None
        try:
            prompt_tokens = self.lm.count_tokens(prompt)
        except InvalidInput as e:
            raise BadRequest(str(e), param=param, code="unsupported_characters") from None
        except PonderError:
            raise  # the server's set-up (e.g. no tokenizer), not the input: a 500
        except Exception as e:  # a tokenizer that cannot encode the input raises its own
            raise BadRequest(f"The model's tokenizer cannot encode the input ({e}).",
                             param=param, code="unsupported_characters") from None
        room = self.lm.max_context - prompt_tokens
        if room < 1:
            raise BadRequest(f"This model's maximum context length is {self.lm.max_context} "
                             f"tokens, but your input is {prompt_tokens} tokens.",
                             param=param, code="context_length_exceeded")
        max_tokens = min(room, self.max_tokens or room, max_completion_tokens or room)
        return Query(question, prompt_tokens, effort, max_tokens,
                     max_completion_tokens, n, temperature, top_p,
                     0 if seed is None else seed, [s for s in stop or [] if s], summary,
                     messages, prompt)

    def submit(self, query: Query) -> Job:
        """Queue ``query``; raises ``Overloaded`` when ``max_pending`` requests are in."""
        job = Job(query)
        with self._lock:
            if len(self._jobs) >= self.max_pending:
                raise Overloaded(f"The server is busy ({len(self._jobs)} requests queued or "
                                 "running); retry shortly.", code="rate_limit_exceeded")
            self._jobs.add(job)
        job.future.add_done_callback(lambda _: self._release(job))
        try:
            self._pool.submit(self._work, job)
        except RuntimeError:  # the pool was shut down: the server is closing
            job.future.cancel()  # releases the job
            raise Unavailable("The server is shutting down; retry shortly.",
                              code="server_shutting_down") from None
        return job

    def _release(self, job: Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def close(self) -> None:
        """Cancel whatever is in flight and stop the threads."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.batcher.close()

    # -- thinking -------------------------------------------------------------------
    def _work(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(self._answer(job))
        except Exception as e:  # the request's waiter reports it
            job.future.set_exception(e)

    def _answer(self, job: Job) -> Outcome:
        q = job.query
        lm = RequestLM(self.lm, self.batcher, job, self.samples_per_call)
        problem = Problem(id="request", task="serve", prompt=q.question, answer="",
                          difficulty=0)
        choices = []
        for i in range(q.n):
            job.check()
            job.stage = "thinking"  # the previous choice may have left it "summarizing"
            seed = q.seed if i == 0 else derive_seed(q.seed, "serve", "choice", i)
            thought = self.policy.think(problem, lm, q.effort, max_tokens=q.max_tokens,
                                        total_tokens=q.total_tokens, temperature=q.temperature,
                                        top_p=q.top_p, scorers=self.scorers, seed=seed)
            choices.append(self._choice(q, thought, lm, job))
        return Outcome(choices, q.prompt_tokens)

    def _choice(self, q: Query, thought: Thought, lm: RequestLM, job: Job) -> Choice:
        res = thought.result
        thinking, content = split_thinking(res.completion)
        chosen = next((t for t in res.traces if t.completion == res.completion), None)
        cut = chosen is not None and chosen.meta.get("finish_reason") == "length"
        finish = "length" if cut or THINK_CLOSE not in res.completion else "stop"
        if THINK_CLOSE not in res.completion:
            content = ""  # thinking ran out of budget: no answer to show
        for s in q.stop:
            if s in content:
                content, finish = content[: content.index(s)], "stop"
        generated = res.compute.generated_tokens
        visible = lm.count_tokens(content) if content else 0
        summary: list[str] = []
        if q.summary is not None:
            job.check()
            job.stage = "summarizing"
            source = SummarySource(q.question, thinking, res.answer,
                                   [t.answer for t in res.traces])
            summary = self.summarizer.summarize(source, q.summary, lm)
        info = {"effort": thought.effort, "effort_used": thought.effort_used,
                "strategy": thought.strategy, "samples": res.compute.samples,
                "predicted_difficulty": thought.difficulty, "compute": res.compute.to_dict()}
        return Choice(content, finish, max(generated, visible), max(generated - visible, 0),
                      summary, info)
