"""Error hierarchy: every failure a user can cause or meet maps to one of these, never a bare traceback."""

from __future__ import annotations


class FitmirrorError(Exception):
    """Base class. `code` is a stable machine-readable identifier used in API and control-channel errors."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict:
        d = {"code": self.code, "message": self.message}
        if self.hint:
            d["hint"] = self.hint
        return d


class ConfigError(FitmirrorError):
    code = "config"


class SetupError(FitmirrorError):
    """A system requirement, model file or cache is missing or broken."""

    code = "setup"


class ModelUnavailableError(SetupError):
    code = "model_unavailable"
    http_status = 503


class InputError(FitmirrorError):
    """Bad input from a user or client: malformed, out of range, too large."""

    code = "bad_input"
    http_status = 400


class NoPersonError(InputError):
    code = "no_person"
    http_status = 422


class ImplausibleMeasurementError(InputError):
    code = "implausible_measurement"
    http_status = 422


class UnsupportedMediaTypeError(InputError):
    """A request body that is not the JSON a route takes (a form or text/plain post needs no CORS preflight)."""

    code = "unsupported_media_type"
    http_status = 415


class ForbiddenOriginError(FitmirrorError):
    """A browser page on an origin that may not use this server (FITMIRROR_ALLOWED_ORIGINS)."""

    code = "forbidden_origin"
    http_status = 403


class NotFoundError(FitmirrorError):
    code = "not_found"
    http_status = 404


class CapacityError(FitmirrorError):
    """The server is full; clients should retry later (see `retry_after_s`)."""

    code = "capacity"
    http_status = 503

    def __init__(self, message: str, *, retry_after_s: int = 10, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict:
        return {**super().to_dict(), "retry_after_s": self.retry_after_s}


class RateLimitError(FitmirrorError):
    """Too much from one client (messages, sessions of one address); `retry_after_s` when waiting helps."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict:
        d = super().to_dict()
        return d if self.retry_after_s is None else {**d, "retry_after_s": self.retry_after_s}


class RenderError(FitmirrorError):
    code = "render"
