"""Dynamic batching: concurrent requests to one signature are merged into one call.

Follows TF Serving's ``BatchingParameters``: a batch is run when it holds ``max_batch_size`` rows
or when its oldest request has waited ``batch_timeout_micros``; at most ``max_enqueued_batches``
batches wait in the queue (more is answered UNAVAILABLE, as TF Serving does, with HTTP 429 on
REST); a batch is padded (by repeating its first row) up to the next of ``allowed_batch_sizes``;
``num_batch_threads`` batches run in parallel. Requests are merged only when their inputs agree
in every dimension but the 0-th.

A request fails alone: when a merged call fails, its requests are run again one by one, so each
gets the answer it would have got unbatched (a corrupt image fails its own request, never its
neighbours). A task whose deadline (`serving.server.overload`) has passed, or whose waiter has
given up, is dropped without running (DEADLINE_EXCEEDED): when a batch thread forms a batch, and
when a full queue is asked to take a new task.

Adaptive batching (``BatchingOptions.adaptive``, a dlsuite option in the spirit of BentoML's and
MLServer's adaptive batchers) keeps the mean gap between the last 32 arrivals and a moving average
of the time a batch takes to run, and waits for more rows only when another request is expected
before the current batch could have finished: the window is
``min(run time, rows still missing x gap, batch_timeout_micros)`` when ``gap < run time``
and 0 otherwise. At low load a request runs at once (no added latency); at high load batches
fill as with the fixed window.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from collections.abc import Callable

import numpy as np

from dlsuite.serving.server.config import BatchingOptions
from dlsuite.serving.server.errors import ServingError, invalid
from dlsuite.serving.server.overload import check_deadline, deadline_exceeded

RunFn = Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]
Outputs = dict[str, np.ndarray]
Deliver = Callable[[Outputs | None, BaseException | None], None]


@dataclasses.dataclass
class _Task:
    key: tuple
    signature: str
    inputs: dict[str, np.ndarray]
    rows: int
    enqueued: float
    deliver: Deliver  # called once, from a batch thread, with the outputs or the error
    deadline: float | None  # monotonic time by which it must have started running
    abandoned: Callable[[], bool]  # whether its waiter has given up (a cancelled future)

    def expired(self, now: float) -> bool:
        """Whether it is no longer worth running at ``now``."""
        return (self.deadline is not None and now >= self.deadline) or self.abandoned()


def _future_deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Deliver:
    """Complete ``future`` on its loop (unless its request gave up waiting, e.g. timed out)."""

    def complete(result: Outputs | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def deliver(result: Outputs | None, error: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(complete, result, error)
        except RuntimeError:  # the loop is closed: the server is stopping, nobody waits
            pass

    return deliver


def _never() -> bool:
    """`_Task.abandoned` of a task whose waiter is a thread (it waits until it is answered)."""
    return False


class Batcher:
    """Queue of pending requests for one loaded version, drained by ``num_batch_threads`` threads.

    Args:
        run: ``run(signature, inputs) -> outputs`` executing one (merged) call.
        options: the batching parameters.
        on_batch: called with ``(rows, padded_rows)`` for every batch that runs.
    """

    def __init__(
        self,
        run: RunFn,
        options: BatchingOptions,
        on_batch: Callable[[int, int], None] | None = None,
        on_queue: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.options = options
        self._on_batch = on_batch
        self._on_queue = on_queue
        self._queued_rows = 0
        # last arrival times
        self._arrivals: collections.deque[float] = collections.deque(maxlen=32)
        self._latency: float | None = None  # moving average of seconds per batch run
        self._queue: collections.deque[_Task] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, signature: str, inputs: dict[str, np.ndarray], deadline: float | None = None
    ) -> Outputs:
        """Run ``inputs`` as part of a batch; blocks until its rows of the outputs are ready.
        Not run, but DEADLINE_EXCEEDED, when it has not started by ``deadline`` (monotonic)."""
        done = threading.Event()
        box: list = [None, None]

        def deliver(result: Outputs | None, error: BaseException | None) -> None:
            box[:] = [result, error]
            done.set()

        if not self._enqueue(signature, inputs, deliver, deadline, _never):
            check_deadline(deadline)
            return self._run(signature, inputs)  # not batchable: run alone
        done.wait()
        if box[1] is not None:
            raise box[1]
        return box[0]

    def submit_async(
        self, signature: str, inputs: dict[str, np.ndarray], deadline: float | None = None
    ) -> asyncio.Future | None:
        """Queue ``inputs`` from an event loop: a future of its rows of the outputs, completed on
        the running loop, or None when the inputs cannot be batched (the caller runs them alone).
        No thread waits for the batch: the request's coroutine does. Dropped unrun when it has
        not started by ``deadline`` or the future is cancelled (its request timed out)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        deliver = _future_deliver(loop, future)
        return future if self._enqueue(signature, inputs, deliver, deadline, future.done) else None

    def _enqueue(
        self,
        signature: str,
        inputs: dict[str, np.ndarray],
        deliver: Deliver,
        deadline: float | None,
        abandoned: Callable[[], bool],
    ) -> bool:
        """Queue a task (False when the inputs have no common batch dimension)."""
        rows = {a.shape[0] if a.ndim else -1 for a in inputs.values()}
        if len(rows) != 1 or -1 in rows:
            return False
        (size,) = rows
        if size > self.options.max_batch_size:
            raise invalid(
                f"Task size {size} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        key = (signature,) + tuple(sorted((n, a.shape[1:], a.dtype.str) for n, a in inputs.items()))
        task = _Task(key, signature, inputs, size, time.monotonic(), deliver, deadline, abandoned)
        capacity = self.options.max_enqueued_batches * self.options.max_batch_size
        with self._cond:
            if self._stopped:
                raise ServingError("UNAVAILABLE", "batcher is shut down")
            if self._queued_rows + size > capacity:
                expired = self._drop_expired(task.enqueued)
                for gone in expired:  # fast: a future completed on its loop, or an event set
                    gone.deliver(None, deadline_exceeded())
            if self._queued_rows + size > capacity:
                raise ServingError(
                    "UNAVAILABLE",
                    "The batch scheduling queue to which this task was submitted is full "
                    f"(max_enqueued_batches {self.options.max_enqueued_batches} of "
                    "--batching_parameters_file)",
                    429,
                )
            self._arrivals.append(task.enqueued)
            self._queue.append(task)
            self._set_queued(self._queued_rows + size)
            self._cond.notify_all()
        return True

    def _drop_expired(self, now: float) -> list[_Task]:
        """Take the tasks no longer worth running out of the queue (with ``_cond`` held), so
        that they do not fill it; returns them."""
        kept: collections.deque[_Task] = collections.deque()
        expired: list[_Task] = []
        for task in self._queue:
            (expired if task.expired(now) else kept).append(task)
        if expired:
            self._queue = kept
            self._set_queued(self._queued_rows - sum(t.rows for t in expired))
        return expired

    def stop(self) -> None:
        """Stop the threads after the queued tasks have run."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _set_queued(self, rows: int) -> None:
        self._queued_rows = rows
        if self._on_queue is not None:
            self._on_queue(rows)

    def window(self, rows: int) -> float:
        """Seconds the oldest request may wait for a batch that holds ``rows`` rows so far."""
        timeout = self.options.batch_timeout_micros / 1e6
        if not self.options.adaptive:
            return timeout
        latency, arrivals = self._latency, self._arrivals
        if latency is None or len(arrivals) < 2:
            return 0.0
        gap = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)  # mean of the last 31 gaps
        if gap >= latency:
            return 0.0  # nobody else expected before a batch could finish: run now
        window = min(latency, (self.options.max_batch_size - rows) * gap)
        return min(window, timeout) if timeout > 0 else window

    def _take(self) -> list[_Task] | None:
        """The next batch to run, or the queued tasks found no longer worth running (the caller
        answers them, see `_Task.expired`), or None once stopped and drained."""
        with self._cond:
            while True:
                while not self._queue:
                    if self._stopped:
                        return None
                    self._cond.wait()
                expired = self._drop_expired(time.monotonic())
                if expired:
                    return expired
                first = self._queue[0]
                same = [t for t in self._queue if t.key == first.key]
                rows = sum(t.rows for t in same)
                deadline = first.enqueued + self.window(rows)
                now = time.monotonic()
                if rows >= self.options.max_batch_size or now >= deadline or self._stopped:
                    break
                self._cond.wait(deadline - now)
            batch, total = [], 0
            for task in same:
                if total + task.rows > self.options.max_batch_size:
                    break
                batch.append(task)
                total += task.rows
            for task in batch:
                self._queue.remove(task)
            self._set_queued(self._queued_rows - total)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            now = time.monotonic()
            live = []
            for task in batch:
                if task.expired(now):
                    task.deliver(None, deadline_exceeded())
                else:
                    live.append(task)
            if live:
                self._run_batch(live)

    def _padded_size(self, rows: int) -> int:
        for size in self.options.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows

    def _run_batch(self, batch: list[_Task]) -> None:
        rows = sum(t.rows for t in batch)
        padded = self._padded_size(rows)
        try:
            merged = {}
            for name in batch[0].inputs:
                parts = [t.inputs[name] for t in batch]
                if padded > rows:
                    parts.append(np.repeat(parts[0][:1], padded - rows, axis=0))
                merged[name] = np.concatenate(parts, axis=0)  # (padded, ...)
            started = time.monotonic()
            outputs = self._run(batch[0].signature, merged)
        except Exception as err:  # noqa: BLE001 - a request's fault, or every request's
            if len(batch) == 1:
                batch[0].deliver(None, err)
            else:
                self._run_one_by_one(batch)
            return
        took = time.monotonic() - started
        self._latency = took if self._latency is None else 0.8 * self._latency + 0.2 * took
        if self._on_batch is not None:
            self._on_batch(rows, padded)
        offset = 0
        results = []
        for task in batch:
            result = {}
            for name, value in outputs.items():
                if value.ndim == 0 or value.shape[0] != padded:
                    error = ServingError(
                        "INTERNAL",
                        f"output '{name}' has no batch dimension; disable batching for this model",
                    )
                    for waiting in batch:
                        waiting.deliver(None, error)
                    return
                result[name] = value[offset : offset + task.rows]
            results.append(result)
            offset += task.rows
        for task, result in zip(batch, results, strict=True):
            task.deliver(result, None)

    def _run_one_by_one(self, batch: list[_Task]) -> None:
        """Run each task of a batch whose merged call failed on its own, so that a bad request
        (an input the model cannot take) gets its own error and its neighbours their results."""
        for task in batch:
            if task.expired(time.monotonic()):
                task.deliver(None, deadline_exceeded())
                continue
            try:
                result = self._run(task.signature, task.inputs)
            except Exception as err:  # noqa: BLE001 - handed to its request
                task.deliver(None, err)
                continue
            if self._on_batch is not None:
                self._on_batch(task.rows, task.rows)
            task.deliver(result, None)
