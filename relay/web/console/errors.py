"""The console's answers to a client's mistakes: each knows its HTTP status."""

from __future__ import annotations


class ConsoleError(Exception):
    status = 400

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(ConsoleError):
    status = 400


class ReadOnly(ConsoleError):
    status = 403


class NotFound(ConsoleError):
    status = 404


class Conflict(ConsoleError):
    status = 409
