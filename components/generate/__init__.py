"""The generate component."""

from components.generate.component import generate

__all__ = ["generate"]
