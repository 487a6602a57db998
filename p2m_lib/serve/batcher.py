"""Micro-batching: concurrent requests are decoded together instead of queueing one by one.

A request's inputs wait at most `max_wait_ms` (counted from their arrival) for other requests
to join them, up to `max_batch_size` inputs; then the batch is decoded in one worker thread,
one batch at a time, and each request gets its own answers back. Requests that arrive while a
batch is decoding have already waited, so they form the next batch at once. Only requests with
the same key (the answer length they ask for) are decoded together, since one `generate` call
has one length.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# Decodes a batch of inputs with one key, returning one answer per input in order.
RunBatch = Callable[[list[str], Hashable], list[str]]
# Told the number of inputs and of requests in every batch decoded (for metrics).
OnBatch = Callable[[int, int], None]


@dataclass
class _Job:
    inputs: list[str]
    key: Hashable
    arrived: float
    future: asyncio.Future[list[str]] = field(repr=False)


class MicroBatcher:
    """Groups concurrent `submit` calls into batches for `run_batch`.

    Create and use it inside one event loop (the server's). `run_batch` runs in a single worker
    thread, so the model is never used by two batches at once and the loop stays free to accept
    requests and answer health checks meanwhile.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        max_batch_size: int,
        max_wait_ms: float,
        on_batch: OnBatch | None = None,
    ) -> None:
        """Set up the queue; the worker starts with the first request.

        Args:
            run_batch: Decodes a batch; an exception fails every request in that batch only.
            max_batch_size: Most inputs per batch; a single larger request forms a batch alone.
            max_wait_ms: Longest wait of a request for others to join it.
            on_batch: Called after each decoded batch with (inputs, requests).
        """
        self._run_batch = run_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_ms / 1000
        self._on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: deque[_Job] = deque()
        self._arrival = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2m-batch")

    async def submit(self, inputs: Sequence[str], key: Hashable = None) -> list[str]:
        """The answers to `inputs`, decoded together with whatever arrives alongside them."""
        if not inputs:
            return []
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Queue, event and worker belong to one event loop; a new loop (each asyncio.run) starts afresh.
            self._loop, self._pending, self._arrival, self._worker = loop, deque(), asyncio.Event(), None
        job = _Job(list(inputs), key, loop.time(), loop.create_future())
        self._pending.append(job)
        self._arrival.set()
        if self._worker is None or self._worker.done():
            # The worker ends whenever the queue is empty, so no task outlives the traffic.
            self._worker = loop.create_task(self._work())
        return await job.future

    def close(self) -> None:
        """Stop the worker thread once the batch in progress (if any) is done."""
        self._executor.shutdown(wait=False)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            first = self._pending[0]
            await self._wait_for_company(first, loop)
            batch = self._take_batch(first.key)
            if batch:
                await self._decode(batch, loop)

    async def _wait_for_company(self, first: _Job, loop: asyncio.AbstractEventLoop) -> None:
        deadline = first.arrived + self._max_wait_s
        while self._waiting_inputs(first.key) < self._max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                return

    def _waiting_inputs(self, key: Hashable) -> int:
        return sum(len(job.inputs) for job in self._pending if job.key == key)

    def _take_batch(self, key: Hashable) -> list[_Job]:
        """Remove and return the oldest jobs with `key` that fit in one batch (at least one)."""
        batch: list[_Job] = []
        size = 0
        kept: deque[_Job] = deque()
        while self._pending:
            job = self._pending.popleft()
            if job.future.done():  # the client went away while it waited
                continue
            if job.key == key and (not batch or size + len(job.inputs) <= self._max_batch_size):
                batch.append(job)
                size += len(job.inputs)
            else:
                kept.append(job)
        self._pending = kept
        return batch

    async def _decode(self, batch: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        inputs = [text for job in batch for text in job.inputs]
        try:
            answers = await loop.run_in_executor(self._executor, self._run_batch, inputs, batch[0].key)
        except Exception as error:  # handed to the requests in this batch, which report it
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if self._on_batch:
            self._on_batch(len(inputs), len(batch))
        start = 0
        for job in batch:
            end = start + len(job.inputs)
            if not job.future.done():
                job.future.set_result(answers[start:end])
            start = end
