"""The demo's answer functions (gradio itself is an optional extra, absent here)."""

import sys
import time

import pytest
from store.s3_server import free_port

from p2m_lib.errors import P2MError
from p2m_lib.serve.demo import GRADIO_HINT, endpoint_answer, folder_answer, run_demo
from p2m_lib.train import StudentPredictor


def test_over_a_folder_the_page_answers_like_the_predictor(served_model_dir):
    answer, instruction = folder_answer(served_model_dir)

    assert instruction == "Repeat the word."
    assert answer("word 1") == StudentPredictor.load(served_model_dir).predict(["word 1"])[0]


def test_an_endpoint_that_does_not_come_up_is_an_error_after_the_wait():
    start = time.monotonic()

    with pytest.raises(P2MError, match="cannot reach http://127.0.0.1"):
        endpoint_answer(f"http://127.0.0.1:{free_port()}", wait_s=0.5)
    assert 0.5 <= time.monotonic() - start < 10


def test_without_gradio_nothing_loads_and_the_hint_is_given(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gradio", None)

    with pytest.raises(P2MError) as error:
        run_demo(tmp_path / "not-even-a-model")
    assert str(error.value) == GRADIO_HINT
