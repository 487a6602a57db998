"""p2m: from a prompt to a small, evaluated, deployable model (the Prompt2Model method)."""

__version__ = "0.1.0"
