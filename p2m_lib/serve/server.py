"""`p2m serve`: one model folder behind a real KServe ModelServer (REST V1 and V2).

Routes (KServe's): `POST /v1/models/NAME:predict`, `POST /v2/models/NAME/infer`, `GET /v1/models`,
`GET /v2/models/NAME` (metadata), readiness `GET /v2/health/ready` and `GET /v2/models/NAME/ready`,
liveness `GET /` and `GET /v2/health/live`, Prometheus metrics `GET /metrics`.
The model is loaded before the port opens, so a connection that succeeds finds it ready.
"""

from __future__ import annotations

from pathlib import Path

from kserve import ModelServer

from p2m_lib.serve.config import DEFAULT_HTTP_PORT, DEFAULT_MODEL_NAME, ServeConfig, check_model_name
from p2m_lib.serve.model import StudentModel


class HostModelServer(ModelServer):
    """KServe's ModelServer listening on a chosen address (KServe's own always listens on 0.0.0.0)."""

    def __init__(self, host: str, port: int) -> None:
        # gRPC is off: the REST routes are the interface, and a KServe pod exposes one port.
        super().__init__(http_port=port, enable_grpc=False, workers=1, enable_latency_logging=False)
        self.host = host

    def setup_event_loop(self) -> None:
        """Set the address, then KServe's loop settings.

        `start` builds the REST server, then calls this, then serves: the one moment between
        building the server and binding its socket where the address can still be changed.
        """
        self._rest_server.config.host = self.host
        super().setup_event_loop()


def serve_model(
    model_dir: Path,
    *,
    name: str = DEFAULT_MODEL_NAME,
    host: str = "127.0.0.1",
    port: int = DEFAULT_HTTP_PORT,
    config: ServeConfig | None = None,
) -> None:
    """Load the model folder and serve it until the process is stopped (Ctrl-C or SIGTERM).

    Args:
        model_dir: A model folder written by p2m training (`RUN/model`).
        name: The model's name in the routes.
        host: Address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 in a container.
        port: HTTP port.
        config: Request limits and batching.

    Raises:
        P2MError: If the name is unusable or the folder is not a p2m model folder.
    """
    model = StudentModel(check_model_name(name), Path(model_dir), config)
    model.load()
    HostModelServer(host, port).start([model])
