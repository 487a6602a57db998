"""The gather_labelled component."""

from components.gather_labelled.component import gather_labelled

__all__ = ["gather_labelled"]
