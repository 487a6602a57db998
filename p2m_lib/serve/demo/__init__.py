"""`p2m demo`: the paper's Gradio page, over the served model or a model folder.

Over a model folder, the page answers with the same predictor as the server (and evaluation);
over an endpoint (`--endpoint http://127.0.0.1:8080`, the cluster sidecar), it sends V1 requests
to the running server, so the model is loaded once. Gradio is an optional extra, imported only
here: `pip install gradio`. `python -m p2m_lib.serve.demo` (the sidecar's command) is `p2m demo`
on its own (`__main__.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError

if TYPE_CHECKING:
    import httpx

GRADIO_HINT = "the demo needs gradio, an optional extra: pip install gradio"
REQUEST_TIMEOUT_S = 120.0
WAIT_POLL_S = 1.0

Answer = Callable[[str], str]


def require_gradio() -> ModuleType:
    """The gradio module.

    Raises:
        P2MError: If gradio is not installed, with the command that installs it.
    """
    try:
        import gradio
    except ImportError:
        raise P2MError(GRADIO_HINT) from None
    return gradio


def folder_answer(model_dir: Path) -> tuple[Answer, str]:
    """An answer function over a model folder, and the task's instruction (for the page)."""
    from p2m_lib.train.predict import StudentPredictor

    predictor = StudentPredictor.load(Path(model_dir))
    return (lambda text: predictor.predict([text])[0]), predictor.template.instruction


def endpoint_answer(endpoint: str, name: str | None = None, wait_s: float = 0.0) -> tuple[Answer, str]:
    """An answer function over a running server's V1 route, and the model's name.

    Args:
        endpoint: The server's base URL, e.g. http://127.0.0.1:8080.
        name: The model's name; None for the server's only model.
        wait_s: How long to wait for the server to accept connections (a sidecar starts with a
            server that is still loading its model).

    Raises:
        P2MError: If the server cannot be reached in time, or serves no model or several
            (without `name`).
    """
    import httpx

    client = httpx.Client(base_url=endpoint.rstrip("/"), timeout=REQUEST_TIMEOUT_S)
    chosen = name or _only_model(client, endpoint, wait_s)

    def answer(text: str) -> str:
        try:
            response = client.post(f"/v1/models/{chosen}:predict", json={"instances": [text]})
        except httpx.HTTPError as error:
            return f"error: cannot reach {endpoint}: {error}"
        if response.is_error:
            # The server's message says what was wrong with the input: show it on the page.
            return f"error {response.status_code}: {_error_message(response)}"
        return response.json()["predictions"][0]

    return answer, chosen


def _only_model(client: httpx.Client, endpoint: str, wait_s: float) -> str:
    import httpx

    deadline = time.monotonic() + wait_s
    while True:
        try:
            models = client.get("/v1/models").raise_for_status().json()["models"]
            break
        except httpx.TransportError as error:
            if time.monotonic() >= deadline:
                raise P2MError(f"cannot reach {endpoint}: {error}") from None
            time.sleep(WAIT_POLL_S)
        except httpx.HTTPError as error:
            raise P2MError(f"cannot list the models at {endpoint}: {error}") from None
    if len(models) != 1:
        raise P2MError(
            f"{endpoint} serves {len(models)} models ({', '.join(models)}): choose one with --name"
        )
    return models[0]


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.json())
    except ValueError:  # a proxy's HTML page, not the server's JSON
        return response.text[:200]


def run_demo(
    model_dir: Path | None = None,
    *,
    endpoint: str | None = None,
    name: str | None = None,
    wait_s: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 7860,
) -> None:
    """Open the Gradio page and serve it until interrupted (`wait_s`: see `endpoint_answer`).

    Raises:
        P2MError: If gradio is missing (checked before any model loads), neither or both of
            `model_dir` and `endpoint` are given, or the model cannot be reached or loaded.
    """
    gradio = require_gradio()
    if (model_dir is None) == (endpoint is None):
        raise P2MError("give either a model folder or --endpoint, not both")
    if endpoint:
        answer, chosen = endpoint_answer(endpoint, name, wait_s)
        description = f"Answers from model {chosen} at {endpoint}."
    else:
        answer, instruction = folder_answer(Path(model_dir))
        description = f"Task: {instruction}"
    page = gradio.Interface(
        fn=answer,
        inputs=gradio.Textbox(label="Input", lines=3),
        outputs=gradio.Textbox(label="Answer"),
        title="p2m demo",
        description=description,
    )
    page.launch(server_name=host, server_port=port)

