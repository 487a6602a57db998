"""Settings of the test server, shared by the fixtures and the tests that talk to it."""

from p2m_lib.process import TaskTemplate

TEMPLATE = TaskTemplate("Repeat the word.", "decoder-only")
MODEL_NAME = "tiny"
# Small enough that a test server answers in milliseconds, large enough to see batches form.
SERVER_BATCH_SIZE = 8
SERVER_WAIT_MS = 50
# The server's request limits (see the `server` fixture).
MAX_INSTANCES = 16
MAX_INPUT_CHARS = 200
MAX_NEW_TOKENS_LIMIT = 8
