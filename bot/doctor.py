"""`hunt-bot doctor`: is this install ready, and what can it do?

Checks the settings, the hunt catalog, Redis, the lab tenant and, when an app registration is
configured, token acquisition for Graph and Defender for Endpoint. The roles in those tokens say
which hunts and actions the app registration may perform.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.config import Settings
from bot.defender.auth import TokenProvider, token_roles
from bot.defender.permissions import Availability, Resource, check_capabilities
from bot.errors import HuntBotError
from bot.hunts import load_catalog
from bot.state.redis import check_redis, open_redis

OK = "[green]✓[/]"
FAIL = "[red]✗[/]"
NOTE = "[yellow]•[/]"


async def run_doctor(
    settings: Settings, console: Console, *, tokens: TokenProvider | None = None
) -> bool:
    """Print every check; True when nothing needed for the chosen backend failed."""
    report = _Report(console)
    _settings(settings, report)
    hunt_count = _catalog(settings, report)
    await _redis(settings, report)
    _lab(settings, report)
    await _microsoft(settings, report, tokens, hunt_count)
    return report.ok


class _Report:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.ok = True

    def line(self, mark: str, text: str, detail: str | None = None) -> None:
        self.console.print(Text.from_markup(f"{mark} ") + Text(text))
        if detail:
            self.console.print(Text("    " + detail.replace("\n", "\n    "), style="dim"))

    def failed(self, text: str, detail: str | None = None) -> None:
        self.ok = False
        self.line(FAIL, text, detail)


def _settings(settings: Settings, report: _Report) -> None:
    report.line(OK, f"Settings are valid; hunts run on: {settings.hunt_backend}")
    secrets = {
        "AZURE_CLIENT_SECRET": settings.azure_client_secret,
        "AZURE_CLIENT_CERTIFICATE": settings.azure_client_certificate,
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
    }
    shown = ", ".join(f"{name} {'set' if value else 'unset'}" for name, value in secrets.items())
    report.line(NOTE, f"Cloud {settings.azure_cloud.value}: Graph {settings.graph_base}", shown)


def _catalog(settings: Settings, report: _Report) -> int:
    catalog = load_catalog(settings.hunts_dir)
    source = f" (with {settings.hunts_dir})" if settings.hunts_dir else ""
    report.line(OK, f"{len(catalog)} hunts loaded{source}")
    for problem in catalog.problems:
        report.failed(f"Hunt file skipped: {problem.path}", f"{problem.field}: {problem.detail}")
    for name, gap in sorted(catalog.lab_gaps.items()):
        report.line(NOTE, f"{name} runs on Defender only", gap)
    return len(catalog)


async def _redis(settings: Settings, report: _Report) -> None:
    connection = open_redis(settings)
    try:
        version = await check_redis(connection)
        report.line(OK, f"Redis {version} answers at {connection.description}")
    except HuntBotError as exc:
        report.failed(exc.message, exc.hint)
    finally:
        await connection.aclose()


def _lab(settings: Settings, report: _Report) -> None:
    path = settings.lab_db
    if path.exists():
        report.line(OK, f"Lab tenant at {path} ({path.stat().st_size / 1e6:.1f} MB)")
    else:
        report.line(
            NOTE,
            f"Lab tenant not created yet at {path}",
            "It is created on first use, or now with: hunt-bot lab init",
        )


async def _microsoft(
    settings: Settings, report: _Report, tokens: TokenProvider | None, hunt_count: int
) -> None:
    configured = settings.azure_tenant_id or settings.azure_client_id
    if not configured and settings.hunt_backend == "lab":
        report.line(
            NOTE,
            "No Microsoft app registration configured: hunts run on the lab tenant",
            "Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or "
            "AZURE_CLIENT_CERTIFICATE) to hunt on Defender.",
        )
        return
    try:
        settings.require_graph()
    except HuntBotError as exc:
        report.failed(exc.message, exc.hint)
        return
    provider = tokens or TokenProvider(settings)
    roles: dict[Resource, list[str] | None] = {}
    for resource, scope in (
        (Resource.GRAPH, settings.hosts.graph_scope),
        (Resource.MDE, settings.hosts.mde_scope),
    ):
        try:
            token = await provider.access_token(scope)
        except HuntBotError as exc:
            roles[resource] = None
            report.failed(f"No token for {resource.value}: {exc.message}", exc.hint)
            continue
        try:
            roles[resource] = token_roles(token)
        except ValueError:
            roles[resource] = None
            report.line(NOTE, f"Token for {resource.value} acquired; its roles cannot be read")
            continue
        report.line(OK, f"Token for {resource.value} acquired", _roles_text(roles[resource]))
    statuses = check_capabilities(roles[Resource.GRAPH], roles[Resource.MDE])
    hunting = next(s for s in statuses if s.capability.key == "hunting")
    if hunting.available:
        report.line(OK, f"This app registration can run all {hunt_count} hunts")
    elif settings.hunt_backend == "graph":
        report.failed("This app registration cannot run hunts", hunting.grant)
    table = Table("capability", "status", "to enable", title="What this app registration can do")
    for status in statuses:
        mark = {
            Availability.AVAILABLE: "[green]available[/]",
            Availability.MISSING: "[red]missing[/]",
            Availability.UNKNOWN: "[yellow]unknown[/]",
        }[status.availability]
        table.add_row(status.capability.title, mark, status.grant or "")
    report.console.print(table)


def _roles_text(roles: list[str] | None) -> str:
    return "roles: " + (", ".join(sorted(roles)) if roles else "none (no permission consented)")
