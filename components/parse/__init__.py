"""The parse component."""

from components.parse.component import parse

__all__ = ["parse"]
