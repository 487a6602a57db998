"""The S3 server shared by the store tests."""

from collections.abc import Iterator

import pytest
from store.s3_server import s3_server


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """Endpoint URL of a moto S3 server process on loopback, for the tests of one module."""
    with s3_server() as url:
        yield url
