"""The project's container images, and the decorator that builds every component on one of them.

Image names come from one setting, read when the components are imported (that is, at compile
time): `P2M_IMAGE_REGISTRY` (default `localhost:5000/p2m`) and `P2M_IMAGE_TAG` (default: the
installed p2m version). `make images` builds and tags the same names from images/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from kfp import dsl

DEFAULT_REGISTRY = "localhost:5000/p2m"
BASE = "p2m-base"
TRAINER = "p2m-trainer"
SERVING = "p2m-serving"


def image_tag() -> str:
    """The tag of every p2m image: P2M_IMAGE_TAG, else the installed p2m version (never `latest`)."""
    try:
        default = version("p2m")
    except PackageNotFoundError:  # running from a checkout that was never installed
        default = "dev"
    return os.environ.get("P2M_IMAGE_TAG") or default


def image(name: str) -> str:
    """The full reference of one of the project's images, e.g. `localhost:5000/p2m/p2m-base:0.1.0`."""
    registry = os.environ.get("P2M_IMAGE_REGISTRY") or DEFAULT_REGISTRY
    return f"{registry.rstrip('/')}/{name}:{image_tag()}"


def p2m_component(image_name: str = BASE) -> Callable[[Callable[..., Any]], Any]:
    """`dsl.component` on one of the project's images, which already hold p2m and kfp.

    The images install everything at build time, so KFP is told not to pip-install kfp in the
    container at every run.
    """
    return dsl.component(base_image=image(image_name), install_kfp_package=False)
