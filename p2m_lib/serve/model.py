"""The trained student as a KServe model: V1 and V2 requests, micro-batched, answered as in evaluation.

Answers come from `StudentPredictor.predict`, the code path evaluation used: the same template,
the same truncation, greedy decoding with the folder's generation config. A request may only
shorten or lengthen the answer (`max_new_tokens`, up to a limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from prometheus_client import Histogram

from p2m_lib.serve.batcher import MicroBatcher
from p2m_lib.serve.config import ServeConfig
from p2m_lib.serve.protocol import V2_INPUT_NAME, V2_OUTPUT_NAME, BadRequest, Query, parse_v1, parse_v2

# Powers of two up to the largest sensible batch: how well concurrent requests are grouped.
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BATCH_INPUTS = Histogram(
    "p2m_serve_batch_inputs", "Inputs decoded together in one batch.", ["model_name"], buckets=_BATCH_BUCKETS
)
BATCH_REQUESTS = Histogram(
    "p2m_serve_batch_requests", "Requests answered by one batch.", ["model_name"], buckets=_BATCH_BUCKETS
)


class Predictor(Protocol):
    """What answers inputs: `StudentPredictor`, or anything with its `predict`."""

    def predict(
        self, inputs: Sequence[str], batch_size: int = 8, max_new_tokens: int | None = None
    ) -> list[str]: ...


class StudentModel(Model):
    """A model folder written by `p2m run` (or `train`), served under `name`.

    Attributes:
        model_dir: The model folder.
        config: Request limits and batching.
        predictor: What decodes the batches; loaded from `model_dir` by `load` when not given.
    """

    def __init__(
        self,
        name: str,
        model_dir: Path,
        config: ServeConfig | None = None,
        predictor: Predictor | None = None,
    ) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.config = config or ServeConfig()
        self.predictor = predictor
        self._batcher: MicroBatcher | None = None

    def load(self) -> bool:
        """Load the model folder (unless a predictor was given) and become ready.

        Raises:
            P2MError: If the folder is missing or was not written by p2m training.
        """
        from p2m_lib.train.predict import StudentPredictor

        if self.predictor is None:
            self.predictor = StudentPredictor.load(self.model_dir)
        self._batcher = MicroBatcher(
            self._decode, self.config.max_batch_size, self.config.max_wait_ms, on_batch=self._record_batch
        )
        self.ready = True
        return self.ready

    def stop(self) -> None:
        """Release the batch worker thread."""
        if self._batcher:
            self._batcher.close()
        self.ready = False

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Query:
        """Check the request; a bad one becomes KServe's InvalidInput, which it answers with a 400."""
        try:
            if isinstance(payload, InferRequest):
                return parse_v2(payload, self.config)
            return parse_v1(payload, self.config)
        except BadRequest as error:
            raise InvalidInput(str(error)) from None

    def validate(self, payload: Any) -> Any:
        """Nothing left to check: `preprocess` has turned the body into a checked `Query`."""
        return payload

    async def predict(
        self, payload: Query, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> dict[str, list[str]] | InferResponse:
        """The answers, as `{"predictions": [...]}` for V1 or a BYTES "output" tensor for V2."""
        answers = await self.answer(payload.inputs, payload.max_new_tokens)
        if payload.v2_request is None:
            return {"predictions": answers}
        return self._v2_response(payload.v2_request, answers)

    async def answer(self, inputs: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
        """Answers to raw inputs, batched with concurrent requests (the demo calls this too)."""
        if self._batcher is None:
            raise RuntimeError(f"model {self.name} is not loaded: call load() first")
        return await self._batcher.submit(inputs, key=max_new_tokens)

    def get_input_types(self) -> list[dict[str, Any]]:
        """V2 metadata: one BYTES tensor of task inputs."""
        return [{"name": V2_INPUT_NAME, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        """V2 metadata: one BYTES tensor of answers, one per input."""
        return [{"name": V2_OUTPUT_NAME, "datatype": "BYTES", "shape": [-1]}]

    def _decode(self, inputs: list[str], max_new_tokens: Hashable) -> list[str]:
        assert self.predictor is not None  # set by load(), which creates the batcher calling this
        return self.predictor.predict(
            inputs, batch_size=self.config.max_batch_size, max_new_tokens=max_new_tokens
        )

    def _record_batch(self, inputs: int, requests: int) -> None:
        BATCH_INPUTS.labels(model_name=self.name).observe(inputs)
        BATCH_REQUESTS.labels(model_name=self.name).observe(requests)

    def _v2_response(self, request: InferRequest, answers: list[str]) -> InferResponse:
        output = InferOutput(name=V2_OUTPUT_NAME, shape=[len(answers)], datatype="BYTES", data=answers)
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            infer_outputs=[output],
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,
        )
