"""The one exception hierarchy of netcx; entrypoints map it to exit codes and HTTP statuses once."""

from __future__ import annotations


class NetcxError(Exception):
    """Base of every error netcx raises on purpose. `str(err)` is written for an operator."""

    exit_code = 1
    http_status = 500


class InvalidInput(NetcxError):
    """Input that does not have the shape or values we accept; the message names the field."""

    exit_code = 2
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.field = field


class ParseError(InvalidInput):
    """A record in a file that cannot be parsed; carries file and line number."""

    def __init__(self, message: str, *, source: str, line_no: int) -> None:
        super().__init__(f"{source}:{line_no}: {message}")
        self.source = source
        self.line_no = line_no


class ConfigError(NetcxError):
    """A setting or policy/taxonomy file that is missing or invalid; the message names the entry."""

    exit_code = 3


class NotFound(NetcxError):
    """A requested object (world folder, profile, model file) does not exist."""

    exit_code = 4
    http_status = 404


class Unauthorized(NetcxError):
    """Missing or wrong credentials (API key, write key, token)."""

    exit_code = 5
    http_status = 401


class Forbidden(NetcxError):
    """Credentials are valid but do not allow this (scope, consent, purpose)."""

    exit_code = 5
    http_status = 403


class Conflict(NetcxError):
    """The request contradicts stored state (e.g. merging two authenticated customers)."""

    exit_code = 6
    http_status = 409


class Unavailable(NetcxError):
    """A backing store or server is unreachable; the caller may retry."""

    exit_code = 7
    http_status = 503
