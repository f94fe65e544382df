"""Base of the domain's validation errors."""
from __future__ import annotations


class InvalidInput(ValueError):
    """Input that breaks a rule; ``str(e)`` is the Indonesian message, ``code`` a stable id."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message
