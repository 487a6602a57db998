"""The process component."""

from components.process.component import process

__all__ = ["process"]
