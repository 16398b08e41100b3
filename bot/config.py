"""Settings: environment variables and `.env`, validated once at start.

A missing or invalid setting is reported by its name with what is expected, never with a
secret's value, and before anything starts. Which settings are required depends on what runs:
hunting on Defender needs the Azure app registration, the lab needs none of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import SettingsError


class Cloud(StrEnum):
    GLOBAL = "global"
    GCC = "gcc"
    GCC_HIGH = "gcc-high"
    DOD = "dod"


@dataclass(frozen=True)
class CloudHosts:
    authority_host: str
    graph_url: str
    mde_url: str
    # Token scopes name the resource, not the host we talk to: a stand-in at GRAPH_URL still
    # gets a token for the real resource.
    graph_scope: str
    mde_scope: str


# Hosts per cloud: ../shared/reference/microsoft-apis.md §0 and §5. The US Gov MDE scopes are not
# in Microsoft's docs; these follow the resource-URL convention (unconfirmed).
CLOUDS: dict[Cloud, CloudHosts] = {
    Cloud.GLOBAL: CloudHosts(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://api.security.microsoft.com",
        "https://graph.microsoft.com/.default",
        "https://api.securitycenter.microsoft.com/.default",
    ),
    Cloud.GCC: CloudHosts(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://api-gcc.securitycenter.microsoft.us",
        "https://graph.microsoft.com/.default",
        "https://api-gcc.securitycenter.microsoft.us/.default",
    ),
    Cloud.GCC_HIGH: CloudHosts(
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://graph.microsoft.us/.default",
        "https://api-gov.securitycenter.microsoft.us/.default",
    ),
    Cloud.DOD: CloudHosts(
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://dod-graph.microsoft.us/.default",
        "https://api-gov.securitycenter.microsoft.us/.default",
    ),
}


def default_data_dir() -> Path:
    """Where the lab tenant and the embedded Redis keep their files."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hunt-bot"


# What each setting expects, said to the person when it is missing or wrong.
EXPECTED: dict[str, str] = {
    "SLACK_BOT_TOKEN": "the bot token from the Slack app's OAuth page (starts with xoxb-)",
    "SLACK_SIGNING_SECRET": "the signing secret from the Slack app's Basic Information page",
    "SLACK_APP_TOKEN": "an app-level token with connections:write (starts with xapp-)",
    "SLACK_API_URL": "an http(s) URL of the Slack Web API, e.g. https://slack.com/api/",
    "REDIS_URL": "a redis://, rediss:// or unix:// URL; leave unset for the embedded Redis",
    "HUNT_BACKEND": "'graph' (Microsoft Defender through Graph) or 'lab' (the local lab tenant)",
    "AZURE_TENANT_ID": "the Entra tenant id (a GUID) or its primary domain",
    "AZURE_CLIENT_ID": "the application (client) id of the app registration, a GUID",
    "AZURE_CLIENT_SECRET": "a client secret of the app registration",
    "AZURE_CLIENT_CERTIFICATE": "the path of a PEM file holding the private key and certificate",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD": "the password of the PEM private key, if it has one",
    "AZURE_CLOUD": "one of 'global', 'gcc', 'gcc-high', 'dod'",
    "GRAPH_URL": "an http(s) URL overriding the Microsoft Graph host",
    "MDE_URL": "an http(s) URL overriding the Defender for Endpoint API host",
    "AZURE_AUTHORITY_HOST": "an https URL overriding the Entra login host",
    "GRAPH_HUNTS_PER_MINUTE": "the tenant's advanced-hunting calls a minute (1-10000; Microsoft "
    "allows at least 45, more for large tenants)",
    "HUNTS_DIR": "a directory of extra or overriding hunt files (*.yaml)",
    "LAB_DB": "the path of the lab tenant's DuckDB file",
    "HUNT_ALLOWED_CHANNELS": "comma-separated Slack channel ids where /hunt may run",
    "HUNT_ALLOWED_USERS": "comma-separated Slack user ids who may hunt",
    "HUNT_ALLOWED_USERGROUPS": "comma-separated Slack user group ids whose members may hunt",
    "SCHEDULE_ALLOWED_USERS": "comma-separated Slack user ids who may schedule hunts",
    "SCHEDULE_ALLOWED_USERGROUPS": "comma-separated Slack user group ids whose members may "
    "schedule hunts",
    "KQL_ALLOWED_USERS": "comma-separated Slack user ids who may run ad-hoc KQL (/hunt kql)",
    "KQL_ALLOWED_USERGROUPS": "comma-separated Slack user group ids whose members may run "
    "ad-hoc KQL",
    "RESULTS_TTL_DAYS": "how many days results stay available for paging and export (1-90)",
    "APPROVAL_POLICY_FILE": "the path of a YAML approval policy (approvers, quorum, expiry, "
    "target caps, protected devices and mailboxes per action or entity kind)",
    "APPROVAL_APPROVER_USERS": "comma-separated Slack user ids who may approve remediation",
    "APPROVAL_APPROVER_USERGROUPS": "comma-separated Slack user group ids whose members may "
    "approve remediation",
    "APPROVAL_EXPIRY_MINUTES": "how many minutes an approval waits for votes (5-10080)",
    "APPROVAL_MAX_TARGETS": "the most targets one approval may act on (1-10000; unset: 1000 "
    "emails, 100 devices or files)",
    "APPROVAL_LEASE_SECONDS": "seconds a worker holds a running approval between renewals (1-600)",
    "APPROVAL_TAKEOVER_GRACE_SECONDS": "seconds past a lapsed lease before another worker "
    "resumes the run (0-300)",
    "APPROVAL_PROTECTED_DEVICES": "comma-separated device ids or names never acted on",
    "APPROVAL_PROTECTED_MAILBOXES": "comma-separated email addresses never acted on",
    "LOG_FORMAT": "'text' (the default) or 'json' (one JSON object a line, with the ids)",
    "METRICS_PORT": "the port `hunt-bot worker` serves /metrics on (1-65535; unset: none)",
    "SHUTDOWN_GRACE_SECONDS": "seconds a stopping process waits for what it started "
    "(acknowledged requests, running jobs) to finish (0-600)",
}

# A comma-separated list in the environment, e.g. HUNT_ALLOWED_CHANNELS=C0SOC,C0IR.
IdList = Annotated[tuple[str, ...], NoDecode]

SECRET_SETTINGS = frozenset(
    {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "REDIS_URL",  # may carry a password
    }
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    redis_url: SecretStr | None = None

    hunt_backend: Literal["graph", "lab"] = "lab"

    azure_tenant_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,252}$")
    azure_client_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    )
    azure_client_secret: SecretStr | None = None
    azure_client_certificate: Path | None = None
    azure_client_certificate_password: SecretStr | None = None
    azure_cloud: Cloud = Cloud.GLOBAL
    graph_url: AnyHttpUrl | None = None
    mde_url: AnyHttpUrl | None = None
    azure_authority_host: AnyHttpUrl | None = None
    # No 60 s holds more hunting calls than this, across every process (bot/state/quota.py).
    graph_hunts_per_minute: int = Field(default=45, ge=1, le=10_000)

    hunts_dir: Path | None = None
    lab_db: Path = Field(default_factory=lambda: default_data_dir() / "lab.duckdb")

    # Who may hunt: empty means anyone in any channel the bot is in.
    hunt_allowed_channels: IdList = ()
    hunt_allowed_users: IdList = ()
    hunt_allowed_usergroups: IdList = ()
    # Who may make, pause, resume and delete scheduled hunts: empty means anyone who may hunt.
    schedule_allowed_users: IdList = ()
    schedule_allowed_usergroups: IdList = ()
    # Who may run their own KQL (/hunt kql) and save hunts from it: empty means nobody.
    kql_allowed_users: IdList = ()
    kql_allowed_usergroups: IdList = ()
    results_ttl_days: int = Field(default=7, ge=1, le=90)
    # A hunt still going after this long gets a visible progress message with Cancel, edited
    # this often (bot/flows/hunt_progress.py says why it is not the private answer).
    hunt_progress_after_seconds: float = Field(default=10, ge=0.1, le=600)
    hunt_progress_every_seconds: float = Field(default=15, ge=0.1, le=600)

    # Who may approve remediation and on what terms; APPROVAL_POLICY_FILE refines these per action
    # or entity kind (bot/policy.py). No approvers configured means nothing can be approved.
    approval_policy_file: Path | None = None
    approval_approver_users: IdList = ()
    approval_approver_usergroups: IdList = ()
    approval_expiry_minutes: int = Field(default=4 * 60, ge=5, le=7 * 24 * 60)
    # None: per entity kind (bot/policy.py DEFAULT_MAX_TARGETS); a number caps every action.
    approval_max_targets: int | None = Field(default=None, ge=1, le=10_000)
    # A running approval's lease, renewed every third of it; a worker that dies is taken over
    # once its lease plus the grace have passed (worst case about lease + grace + housekeeping).
    approval_lease_seconds: float = Field(default=20, ge=1, le=600)
    approval_takeover_grace_seconds: float = Field(default=5, ge=0, le=300)
    approval_protected_devices: IdList = ()  # ids or names, not Slack ids: own validator below
    approval_protected_mailboxes: IdList = ()

    # Operations (infra/README.md): log lines as text or JSON; the worker's own /metrics port
    # (`hunt-bot serve` answers /metrics on its HTTP port).
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # How long a stopping process waits for after-ack work and running jobs (bot/in_flight.py);
    # below the platforms' 30 s before SIGKILL.
    shutdown_grace_seconds: float = Field(default=20, ge=0, le=600)

    @field_validator("approval_approver_users", "approval_approver_usergroups", mode="before")
    @classmethod
    def _split_approver_ids(cls, value: object) -> object:
        return _split_slack_ids(value)

    @field_validator("approval_protected_devices", "approval_protected_mailboxes", mode="before")
    @classmethod
    def _split_protected(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("approval_protected_mailboxes")
    @classmethod
    def _mailboxes_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in address or " " in address:
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("approval_policy_file")
    @classmethod
    def _policy_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("file not found")
        return value

    @field_validator(
        "hunt_allowed_channels",
        "hunt_allowed_users",
        "hunt_allowed_usergroups",
        "schedule_allowed_users",
        "schedule_allowed_usergroups",
        "kql_allowed_users",
        "kql_allowed_usergroups",
        mode="before",
    )
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for part in value:
                if not isinstance(part, str) or not part.isalnum() or not part[:1].isupper():
                    raise ValueError(f"{part!r} is not a Slack id such as C0123ABCD")
            return tuple(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in {
            "redis",
            "rediss",
            "unix",
        }:
            raise ValueError("scheme must be redis, rediss or unix")
        return value

    @field_validator("azure_client_certificate")
    @classmethod
    def _certificate_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("file not found")
        return value

    @field_validator("hunts_dir")
    @classmethod
    def _hunts_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError("directory not found")
        return value

    @field_validator("azure_authority_host")
    @classmethod
    def _authority_is_https(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and value.scheme != "https":
            raise ValueError("MSAL only talks to an https authority")
        return value

    # -- derived values ----------------------------------------------------------------------

    @property
    def hosts(self) -> CloudHosts:
        return CLOUDS[self.azure_cloud]

    @property
    def graph_base(self) -> str:
        return str(self.graph_url or self.hosts.graph_url).rstrip("/")

    @property
    def mde_base(self) -> str:
        return str(self.mde_url or self.hosts.mde_url).rstrip("/")

    @property
    def authority(self) -> str:
        host = str(self.azure_authority_host or self.hosts.authority_host).rstrip("/")
        return f"{host}/{self.azure_tenant_id}"

    @property
    def redis_url_for_display(self) -> str:
        if self.redis_url is None:
            return "embedded"
        return redact_url(self.redis_url.get_secret_value())

    def require_graph(self) -> None:
        """Hunting on Defender needs the app registration: say which settings are missing."""
        missing = [
            name
            for name, value in (
                ("AZURE_TENANT_ID", self.azure_tenant_id),
                ("AZURE_CLIENT_ID", self.azure_client_id),
            )
            if not value
        ]
        has_secret = self.azure_client_secret is not None
        has_cert = self.azure_client_certificate is not None
        problems = [f"{name} is not set: expected {EXPECTED[name]}" for name in missing]
        if not has_secret and not has_cert:
            problems.append(
                "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE is not set: expected a client "
                "secret or the path of a PEM certificate of the app registration"
            )
        elif has_secret and has_cert:
            problems.append(
                "AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE are both set: keep one"
            )
        if problems:
            raise SettingsError(
                "Hunting on Microsoft Defender needs settings that are missing:\n  "
                + "\n  ".join(problems),
                hint="Set them in the environment or .env, or use the lab tenant "
                "(HUNT_BACKEND=lab or --backend lab).",
            )


def _split_slack_ids(value: object) -> object:
    """A comma-separated list of Slack ids (users U..., groups S...), checked for shape."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        for part in value:
            if not isinstance(part, str) or not part.isalnum() or not part[:1].isupper():
                raise ValueError(f"{part!r} is not a Slack id such as U0123ABCD")
        return tuple(value)
    return value


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and the doctor."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings, or raise SettingsError naming each bad one."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(
            "Some settings are invalid:\n  " + "\n  ".join(describe_errors(exc)),
            hint="Fix them in the environment or .env and start again.",
        ) from None


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per bad setting: its name, what is wrong, what is expected; no secret values."""
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]).upper() if error["loc"] else "SETTINGS"
        reason = error["msg"].removeprefix("Value error, ")
        line = f"{name}: {reason}"
        if name not in SECRET_SETTINGS and isinstance(error.get("input"), str | Path):
            line += f" (got {str(error['input'])!r})"
        if name in EXPECTED:
            line += f"; expected {EXPECTED[name]}"
        lines.append(line)
    return lines
