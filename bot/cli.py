"""`hunt-bot`: the command line. Each command parses, calls bot.*, and prints.

Errors a person can act on (`HuntBotError`) are printed as a message and a hint, with no
traceback, and exit non-zero: 2 for bad input or settings, 1 for failures on the way.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.config import Settings, load_settings
from bot.defender.results import HuntResult
from bot.errors import HuntBotError
from bot.formats import cell_text, to_csv, to_json
from bot.hunts import Catalog, load_catalog
from bot.hunts.arguments import pair_arguments
from bot.hunts.model import RenderedHunt

if TYPE_CHECKING:
    from bot.services import Services

app = typer.Typer(
    help="Slack chat-ops for Microsoft Defender XDR: named hunts, approved actions, handoffs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lab_app = typer.Typer(help="The lab tenant: sample Defender data in DuckDB.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")

# Piped output has no terminal width; COLUMNS, when set, wins as rich reads it.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
err = Console(stderr=True)


def main() -> None:
    try:
        app()
    except HuntBotError as exc:
        show_error(exc)
        raise SystemExit(exc.exit_code) from None


def show_error(exc: HuntBotError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
    if exc.hint:
        err.print(exc.hint, highlight=False, markup=False)


def settings() -> Settings:
    return load_settings()


def catalog_for(current: Settings) -> Catalog:
    catalog = load_catalog(current.hunts_dir)
    for problem in catalog.problems:
        err.print(f"[yellow]skipped hunt file[/] {problem}", highlight=False)
    return catalog


# -- hunts -------------------------------------------------------------------------------------


@app.command("hunts")
def list_hunts() -> None:
    """List the named hunts, their parameters and defaults."""
    catalog = catalog_for(settings())
    table = Table(show_lines=True, title=f"{len(catalog)} hunts")
    table.add_column("hunt", style="bold", no_wrap=True)
    table.add_column("what it finds")
    table.add_column("parameters")
    for hunt in catalog:
        params = "\n".join(
            f"{p.name} ({p.type.value}) " + ("required" if p.required else f"= {p.example}")
            for p in hunt.parameters
        )
        gap = catalog.lab_gaps.get(hunt.name)
        about = f"{hunt.title}\n[dim]{hunt.description.strip()}[/]"
        if gap:
            about += f"\n[yellow]lab: {gap}[/]"
        table.add_row(hunt.name, about, params or "-")
    out.print(table)


@app.command("hunt")
def hunt(
    name: Annotated[str, typer.Argument(help="The hunt to run, e.g. zap-misses.")],
    arguments: Annotated[
        list[str] | None, typer.Argument(help="Parameters as name=value.", show_default=False)
    ] = None,
    kql: Annotated[
        bool, typer.Option("--kql", help="Print the rendered query; run nothing.")
    ] = False,
    backend: Annotated[
        Literal["graph", "lab"] | None,
        typer.Option(help="Where to run it (default: HUNT_BACKEND)."),
    ] = None,
    output: Annotated[
        Literal["table", "csv", "json"], typer.Option("--format", help="How to print the result.")
    ] = "table",
) -> None:
    """Run a named hunt and print its result."""
    current = settings()
    rendered = catalog_for(current).get(name).render(pair_arguments(arguments or []))
    if kql:
        print(rendered.kql)
        return
    result, seconds = asyncio.run(_run(current, rendered, backend))
    if output == "csv":
        sys.stdout.write(to_csv(result))
    elif output == "json":
        print(to_json(result, hunt=rendered.hunt.name, parameters=rendered.describe_values()))
    else:
        _print_table(rendered, result, seconds, backend or current.hunt_backend)


async def _run(
    current: Settings, rendered: RenderedHunt, backend_name: Literal["graph", "lab"] | None
) -> tuple[HuntResult, float]:
    from bot.defender.backends import open_backend

    # Opening the lab may create it (a second or two): keep that off the event loop.
    backend = await asyncio.to_thread(open_backend, current, backend_name)
    try:
        started = time.perf_counter()
        result = await backend.run_query(rendered.kql)
        return result, time.perf_counter() - started
    finally:
        await backend.aclose()


def _print_table(rendered: RenderedHunt, result: HuntResult, seconds: float, where: str) -> None:
    hunt = rendered.hunt
    params = " ".join(f"{k}={v}" for k, v in rendered.describe_values().items()) or "no parameters"
    out.print(f"[bold]{hunt.title}[/]", highlight=False)
    out.print(
        f"[dim]{hunt.name} · {params} · {where} · {result.row_count} rows"
        f"{' (truncated at the 100,000-row cap)' if result.truncated else ''} · {seconds:.2f}s[/]",
        highlight=False,
    )
    if not result.rows:
        out.print("No rows: nothing matched.")
        return
    columns = [c for c in hunt.columns if c in result.column_names] or result.column_names
    table = Table(show_lines=False)
    types = {c.name: c.type for c in result.columns}
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=types.get(column) == "DateTime")
    for row in result.rows:
        # Values are data: no rich markup in them is ever interpreted.
        table.add_row(*(_plain(cell_text(row.get(c))) for c in columns))
    out.print(table)


def _plain(text: str) -> Text:
    return Text(text)


# -- lab ---------------------------------------------------------------------------------------


@lab_app.command("init")
def lab_init(
    rows: Annotated[
        int | None, typer.Option(min=100, help="About this many rows in the larger tables.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sample data.")] = 0,
    path: Annotated[Path | None, typer.Option(help="Database file (default: LAB_DB).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing lab without asking.")
    ] = False,
) -> None:
    """(Re)create the lab tenant's database with sample data and planted scenarios."""
    from bot.defender.lab import create_lab

    target = path or settings().lab_db
    if target.exists() and not force:
        # The lab holds what remediation did to it; replacing it loses that.
        if not sys.stdin.isatty():
            err.print(f"A lab already exists at {target}; add --force to replace it.")
            raise typer.Exit(1)
        if not typer.confirm(f"Replace the lab at {target} (its remediated state is lost)?"):
            raise typer.Exit(1)
    summary = create_lab(target, rows=rows, seed=seed)
    out.print(f"Lab tenant written to {target} in {summary.seconds:.1f}s:", highlight=False)
    for table_name, count in sorted(summary.rows.items()):
        out.print(f"  {table_name:<28} {count:>9,} rows", highlight=False)


@lab_app.command("plant")
def lab_plant(
    scenario: Annotated[
        str, typer.Argument(help="zap-miss, spam, phish-click, ransomware, ... (see the README).")
    ],
    path: Annotated[Path | None, typer.Option(help="Database file (default: LAB_DB).")] = None,
) -> None:
    """Add a fresh copy of a planted scenario, timed now, for the next hunt or scheduled run."""
    from bot.defender.lab import LabTenant
    from bot.defender.lab.plant import plant

    target = path or settings().lab_db
    LabTenant.open(target)  # made first if there is none yet, as a hunt would
    planted = plant(target, scenario)
    out.print(
        f"Planted {planted.scenario} at {planted.at:%H:%M} UTC: {planted.person} on "
        f"{planted.device}, {planted.key_column} {planted.key}. "
        f"`hunt-bot hunt {planted.hunt} lookback=1h` finds it.",
        highlight=False,
        markup=False,
    )


# -- serving Slack ---------------------------------------------------------------------------


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(envvar="PORT", help="HTTP port.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    socket_mode: Annotated[
        bool, typer.Option("--socket-mode", help="Connect out over Socket Mode; runs a worker too.")
    ] = False,
) -> None:
    """Serve Slack: HTTP on POST /slack/events and GET /healthz, or Socket Mode."""
    from bot.app import require_slack

    current = settings()
    require_slack(current, socket_mode=socket_mode)
    _log_to_stderr()
    asyncio.run(_serve(current, host, port, socket_mode))


async def _serve(current: Settings, host: str, port: int, socket_mode: bool) -> None:
    import uvicorn

    from bot.app import create_bolt_app, create_web_app, learn_bot_user, start_services

    services = await start_services(current)
    try:
        await learn_bot_user(services)
        if socket_mode:
            assert current.slack_app_token is not None
            await serve_socket_mode(services, current.slack_app_token.get_secret_value())
        else:
            bolt = create_bolt_app(services)
            # Every request is POST /slack/events: an access log line each costs about 0.13 ms
            # of the ack (benchmarks/README.md) and says nothing the bot's own logs do not.
            config = uvicorn.Config(
                create_web_app(services, bolt),
                host=host,
                port=port,
                log_level="info",
                access_log=False,
            )
            await uvicorn.Server(config).serve()
    finally:
        await services.aclose()


async def serve_socket_mode(services: Services, app_token: str) -> None:
    """`serve --socket-mode` once the services are up: connect out to Slack (SLACK_API_URL's
    apps.connections.open, then its WebSocket) and run jobs in this process until cancelled.
    The tests run it against the stand-in in bot/workspace/socket_mode.py."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.app import create_bolt_app
    from bot.jobs import run_worker

    handler = AsyncSocketModeHandler(create_bolt_app(services), app_token)
    try:
        await handler.connect_async()
        err.print("Connected to Slack over Socket Mode; running jobs in this process.")
        await run_worker(services)
    finally:
        await handler.close_async()


@app.command("worker")
def worker() -> None:
    """Run background jobs (hunts, exports) from the Redis queue."""
    current = settings()
    _log_to_stderr()
    asyncio.run(_work(current))


async def _work(current: Settings) -> None:
    from bot.app import start_services
    from bot.jobs import run_worker

    services = await start_services(current)
    try:
        err.print(f"Worker consuming jobs from {services.redis.description}.")
        await run_worker(services)
    finally:
        await services.aclose()


@app.command("console")
def console(
    script: Annotated[
        Path | None, typer.Option(help="Read the lines from this file instead of the terminal.")
    ] = None,
    transcript: Annotated[
        Path | None, typer.Option(help="Write every Slack Web API call the bot made (JSON lines).")
    ] = None,
) -> None:
    """Slack on your terminal: the whole bot against a local workspace and the lab tenant."""
    from bot.workspace.console import run_console

    raise typer.Exit(asyncio.run(run_console(settings(), script=script, transcript=transcript)))


def _log_to_stderr() -> None:
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# -- audit ---------------------------------------------------------------------------------------

audit_app = typer.Typer(help="The audit log of requests, votes and outcomes.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("export")
def audit_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write every audit entry as JSON lines (oldest first)."""
    current = settings()
    count = asyncio.run(_export_audit(current, output))
    err.print(f"{count} audit entries written.")


async def _export_audit(current: Settings, output: Path | None) -> int:
    from bot.state.audit import AuditLog
    from bot.state.redis import check_redis, open_redis

    connection = open_redis(current)
    try:
        await check_redis(connection)
        log = AuditLog(connection.client)
        if output is None:
            return await log.export_jsonl(sys.stdout)
        with output.open("w", encoding="utf-8") as out:
            return await log.export_jsonl(out)
    finally:
        await connection.aclose()


# -- doctor ------------------------------------------------------------------------------------


@app.command("doctor")
def doctor() -> None:
    """Check settings, Redis, the catalog and Microsoft access; say what this install can do."""
    from bot.doctor import run_doctor

    ok = asyncio.run(run_doctor(settings(), out))
    raise typer.Exit(0 if ok else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
