"""Many callers, one model: concurrent ``LM.generate`` calls batched together.

The built-in model batches concurrent calls itself, row by row (``ponder.lm.engine``).
Any other backend (transformers, vLLM, a remote server) is wrapped by ``shared`` in a
``BatchedLM``, whose ``Batcher`` merges whole calls:

Strategies run in worker threads, one problem or request each, and call ``generate`` as
if they had the model to themselves. Their calls go to one queue; a single thread takes whatever
has arrived (waiting ``window_s`` after the first call for company), merges calls whose
sampling settings agree into one ``generate`` over all their prompts, with one length
limit per prompt as the LM protocol allows, and hands each caller its rows back. The LM
is thus only ever used from one thread, and a batch grows by itself while the model is
busy, the way continuous batching does at the granularity of whole calls. That thread
follows ``ponder.lm.threads``: it computes with the callers' torch threads only for a
call of enough FLOPs, and ends when idle (the next call starts another).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ponder.lm import threads
from ponder.lm.base import LM, Cancelled, Completion

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Call:
    prompts: list[str]
    n: int
    max_tokens: int | list[int]
    temperature: float
    top_p: float
    stop: list[str] | None
    seed: int | None
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple:
        """Calls merge only when every sampling setting but the length limit agrees."""
        return (self.n, self.temperature, self.top_p, tuple(self.stop or ()), self.seed)

    def limits(self) -> list[int]:
        if isinstance(self.max_tokens, list):
            return list(self.max_tokens)
        return [self.max_tokens] * len(self.prompts)


class Batcher:
    """Owns the LM: every ``generate`` goes through ``run`` from any thread."""

    def __init__(self, lm: LM, window_s: float = 0.002, max_sequences: int = 64):
        self.lm, self.window_s, self.max_sequences = lm, window_s, max_sequences
        self.calls = 0  # generate() calls made on the LM
        self.merged = 0  # calls answered by a generate() shared with another call
        self._queue: queue.Queue[Call | None] = queue.Queue()
        self._lock = threading.Lock()  # the queue's puts against the worker's exit
        self._thread: threading.Thread | None = None
        self._threads = threads.current_threads()

    def run(self, call: Call) -> list[list[Completion]]:
        """Blocks until the call's rows are generated (or raises what generate raised)."""
        with self._lock:
            self._threads = threads.current_threads()
            self._queue.put(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ponder-batcher",
                                                daemon=True)
                self._thread.start()
        return call.future.result()

    def close(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout=10)

    def _may_end(self) -> bool:
        """Whether the worker may end: nothing is queued (checked under the lock that
        ``run`` queues under, so a later call starts another worker)."""
        with self._lock:
            if self._queue.empty():
                self._thread = None
                return True
        return False

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=threads.IDLE_EXIT_S)
            except queue.Empty:
                first = None  # idle: end, as on close
            if first is None:
                if self._may_end():
                    return
                continue
            batch, stop = [first], False
            deadline = time.monotonic() + self.window_s
            while True:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._serve(batch)
            if stop and self._may_end():
                return

    def _serve(self, batch: list[Call]) -> None:
        groups: dict[tuple, list[Call]] = {}
        for call in batch:
            if call.cancelled.is_set():
                call.future.set_exception(Cancelled())
            else:
                groups.setdefault(call.key, []).append(call)
        for calls in groups.values():
            part: list[Call] = []
            size = 0
            for call in calls:
                seqs = len(call.prompts) * call.n
                if part and size + seqs > self.max_sequences:
                    self._generate(part)
                    part, size = [], 0
                part.append(call)
                size += seqs
            if part:
                self._generate(part)

    def _generate(self, calls: list[Call]) -> None:
        head = calls[0]
        prompts = [p for c in calls for p in c.prompts]
        limits = [m for c in calls for m in c.limits()]
        self.calls += 1
        step = len(prompts) * head.n * getattr(self.lm, "flops_per_token", 0.0)
        threads.use_threads(threads.worker_threads(step, self._threads))
        try:
            rows = self.lm.generate(prompts, n=head.n, max_tokens=limits,
                                    temperature=head.temperature, top_p=head.top_p,
                                    stop=head.stop, seed=head.seed)
        except Exception as e:  # handed to the waiting callers, who report it
            if len(calls) == 1:
                head.future.set_exception(e)
                return
            # One call's input may be at fault: retry alone so only that caller fails.
            for call in calls:
                self._generate([call])
            return
        if len(calls) > 1:
            self.merged += len(calls)
        i = 0
        for call in calls:
            call.future.set_result(rows[i : i + len(call.prompts)])
            i += len(call.prompts)


class Direct:
    """``Batcher`` 's interface for an LM that batches concurrent calls itself, row by
    row (a true ``thread_safe``, as the built-in model's engine): each call runs in its
    caller's thread, so a finished row frees its place at once instead of waiting for
    the longest row of a merged call."""

    def __init__(self, lm: LM):
        self.lm = lm
        self.calls = 0  # generate() calls made on the LM (none are merged here)
        self.merged = 0
        self._count = threading.Lock()

    def run(self, call: Call) -> list[list[Completion]]:
        if call.cancelled.is_set():
            raise Cancelled()
        with self._count:
            self.calls += 1
        return self.lm.generate(call.prompts, n=call.n, max_tokens=call.max_tokens,
                                temperature=call.temperature, top_p=call.top_p,
                                stop=call.stop, seed=call.seed)

    def close(self) -> None:
        pass


def call_runner(lm: LM, window_s: float = 0.002, max_sequences: int = 64) -> Batcher | Direct:
    """What runs concurrent calls on ``lm``: ``Direct`` when it batches them itself,
    else a ``Batcher`` that merges them."""
    if getattr(lm, "thread_safe", False):
        return Direct(lm)
    return Batcher(lm, window_s, max_sequences)


class BatchedLM:
    """``lm`` for many threads at once: each ``generate`` waits in the batcher's queue
    and is merged with the calls of other threads; everything else is ``lm``'s."""

    thread_safe = True

    def __init__(self, lm: LM, window_s: float = 0.002, max_sequences: int = 256):
        self.lm = lm
        self.batcher = Batcher(lm, window_s, max_sequences)

    def __getattr__(self, name: str) -> Any:  # name, flops_per_token, format_prompt, ...
        return getattr(self.lm, name)

    def generate(self, prompts: list[str], n: int = 1, max_tokens: int | list[int] = 256,
                 temperature: float = 1.0, top_p: float = 1.0, stop: list[str] | None = None,
                 seed: int | None = None) -> list[list[Completion]]:
        return self.batcher.run(Call(list(prompts), n, max_tokens, temperature, top_p, stop,
                                     seed))

    def close(self) -> None:
        self.batcher.close()


def shared(lm: LM) -> LM:
    """``lm`` if it is safe to call from many threads at once (it says so with a true
    ``thread_safe`` attribute, as the built-in model does), else a ``BatchedLM``."""
    return lm if getattr(lm, "thread_safe", False) else BatchedLM(lm)


def map_ordered(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``workers`` threads, results in input order (each as
    soon as it and those before it are done). Their model calls meet in the engine or
    the batcher, which decodes them together; the first error is raised in order."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="ponder-map") as pool:
        yield from pool.map(fn, items)
