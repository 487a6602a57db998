"""Micro-batching with a recording stand-in for the model: grouping, limits, keys, failures."""

import asyncio
import threading
import time

from p2m_lib.serve.batcher import MicroBatcher


class Recorder:
    """Answers each input with its upper case, recording every batch it is given."""

    def __init__(self, seconds_per_batch: float = 0.0, fail_on: str | None = None) -> None:
        self.batches: list[tuple[list[str], object]] = []
        self.threads: set[str] = set()
        self.seconds_per_batch = seconds_per_batch
        self.fail_on = fail_on

    def __call__(self, inputs: list[str], key: object) -> list[str]:
        self.batches.append((list(inputs), key))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds_per_batch)
        if self.fail_on in inputs:
            raise RuntimeError("the model failed")
        return [text.upper() for text in inputs]


def _submit_all(batcher, requests, keys=None):
    async def run():
        keys_ = keys or [None] * len(requests)
        return await asyncio.gather(
            *(batcher.submit(inputs, key) for inputs, key in zip(requests, keys_, strict=True)),
            return_exceptions=True,
        )

    return asyncio.run(run())


def test_concurrent_requests_are_answered_by_one_batch_each_getting_its_own_answers():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=16, max_wait_ms=200)
    requests = [[f"r{i}a", f"r{i}b"] for i in range(8)]

    answers = _submit_all(batcher, requests)

    assert answers == [[text.upper() for text in request] for request in requests]
    assert len(model.batches) == 1
    assert model.batches[0][0] == [text for request in requests for text in request]
    assert model.threads == {"p2m-batch_0"}


def test_a_full_batch_does_not_wait_and_batches_stay_within_the_limit():
    model = Recorder()
    # A wait far longer than the test: only the size limit can release these batches in time.
    batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=60_000)
    start = time.perf_counter()

    answers = _submit_all(batcher, [[f"x{i}"] for i in range(8)])

    assert time.perf_counter() - start < 30
    assert [len(inputs) for inputs, _ in model.batches] == [4, 4]
    assert answers == [[f"X{i}"] for i in range(8)]


def test_requests_arriving_during_a_batch_form_the_next_one_at_once():
    model = Recorder(seconds_per_batch=0.3)
    batcher = MicroBatcher(model, max_batch_size=64, max_wait_ms=5)

    async def run():
        first = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0.1)  # the first batch is decoding now
        later = [batcher.submit([f"later{i}"]) for i in range(5)]
        return await asyncio.gather(first, *later)

    asyncio.run(run())

    assert [inputs for inputs, _ in model.batches] == [["first"], [f"later{i}" for i in range(5)]]


def test_only_requests_with_the_same_key_share_a_batch():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=16, max_wait_ms=100)

    answers = _submit_all(batcher, [["a"], ["b"], ["c"], ["d"]], keys=[None, 4, None, 4])

    assert answers == [["A"], ["B"], ["C"], ["D"]]
    assert sorted((inputs, key) for inputs, key in model.batches if key is None) == [(["a", "c"], None)]
    assert [(inputs, key) for inputs, key in model.batches if key == 4] == [(["b", "d"], 4)]


def test_a_request_larger_than_the_batch_size_is_decoded_alone():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=50)

    answers = _submit_all(batcher, [["a", "b", "c"], ["d"]])

    assert answers == [["A", "B", "C"], ["D"]]
    assert [inputs for inputs, _ in model.batches] == [["a", "b", "c"], ["d"]]


def test_batch_size_one_turns_batching_off():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=1, max_wait_ms=50)

    _submit_all(batcher, [[f"x{i}"] for i in range(4)])

    assert [inputs for inputs, _ in model.batches] == [["x0"], ["x1"], ["x2"], ["x3"]]


def test_a_failing_batch_fails_its_requests_only_and_the_batcher_keeps_working():
    model = Recorder(fail_on="bad")
    batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=50)

    answers = _submit_all(batcher, [["bad"], ["ok1"], ["ok2"], ["ok3"]])

    assert all(isinstance(answer, RuntimeError) for answer in answers[:2])
    assert answers[2:] == [["OK2"], ["OK3"]]
    assert _submit_all(batcher, [["again"]]) == [["AGAIN"]]


def test_a_request_whose_client_left_is_not_decoded():
    model = Recorder(seconds_per_batch=0.2)
    batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=1)

    async def run():
        busy = asyncio.ensure_future(batcher.submit(["busy"]))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        stays = asyncio.ensure_future(batcher.submit(["stays"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        return await asyncio.gather(busy, stays)

    assert asyncio.run(run()) == [["BUSY"], ["STAYS"]]
    assert [inputs for inputs, _ in model.batches] == [["busy"], ["stays"]]


def test_no_inputs_need_no_batch():
    model = Recorder()

    assert _submit_all(MicroBatcher(model, 4, 10), [[]]) == [[]]
    assert model.batches == []


def test_on_batch_is_told_inputs_and_requests():
    seen = []
    batcher = MicroBatcher(
        Recorder(), 16, 100, on_batch=lambda inputs, requests: seen.append((inputs, requests))
    )

    _submit_all(batcher, [["a", "b"], ["c"]])

    assert seen == [(3, 2)]


def test_a_batcher_works_again_in_a_new_event_loop():
    batcher = MicroBatcher(Recorder(), 4, 10)

    assert [_submit_all(batcher, [["a"]]) for _ in range(2)] == [[["A"]], [["A"]]]
