"""Errors a person can act on.

Every error the bot shows to a person is one of these: its message says what went wrong and its
hint says what to do. Whatever shows errors (the CLI, Slack) renders them in one place;
anything else is a bug and gets an error id instead.
"""

from __future__ import annotations


class HuntBotError(Exception):
    """Base class: `message` says what went wrong, `hint` what the person can do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class SettingsError(HuntBotError):
    """A setting is missing or invalid. Reported by name, never with a secret's value."""

    exit_code = 2


class UnknownHunt(HuntBotError):
    exit_code = 2


class BadArgument(HuntBotError):
    """A hunt argument is malformed, unknown or of the wrong type."""

    exit_code = 2


class HuntFileError(HuntBotError):
    """A hunt file is invalid. `path` and `field` say where."""

    def __init__(self, path: str, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}")
        self.path = path
        self.field = field
        self.detail = message


class HuntingError(HuntBotError):
    """Running a query failed on the Microsoft side or the lab."""


class QueryError(HuntingError):
    """The query itself was rejected (syntax or semantic error); carries Microsoft's message."""


class PermissionMissing(HuntingError):
    """401/403: the app registration lacks a permission or admin consent."""


class QuotaExhausted(HuntingError):
    """429 beyond what we are willing to wait: the tenant's hunting quota is used up for now."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        quota: str = "",
    ):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
        self.quota = quota  # which ran out, as Microsoft's answer says: "calls", "cpu" or ""


class DefenderUnavailable(HuntingError):
    """5xx or timeouts that outlasted our retries."""


class AuthenticationError(HuntBotError):
    """Token acquisition failed (bad tenant, client id, secret or certificate)."""


class LabError(HuntBotError):
    """The lab tenant cannot run something (missing database, unsupported KQL construct)."""


class FieldErrors(HuntBotError):
    """A form's fields are wrong: each message is shown next to its field (keyed by block id)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors
