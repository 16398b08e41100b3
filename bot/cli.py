"""`hunt-bot`: the command line. Each command parses, calls bot.*, and prints.

Errors a person can act on (`HuntBotError`) are printed as a message and a hint, with no
traceback, and exit non-zero: 2 for bad input or settings, 1 for failures on the way.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from bot.hunts.model import Hunt, RenderedHunt

if TYPE_CHECKING:
    from bot.defender.lab import LabSummary
    from bot.flows.hunt_files import FileReport
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


hunts_app = typer.Typer(
    help="The named hunts: list them (no sub-command), import and export saved hunts.",
    invoke_without_command=True,
)
app.add_typer(hunts_app, name="hunts")


@hunts_app.callback(invoke_without_command=True)
def hunts_main(ctx: typer.Context) -> None:
    """List the named hunts, their parameters and defaults."""
    if ctx.invoked_subcommand is None:
        list_hunts()


def list_hunts() -> None:
    current = settings()
    catalog = catalog_for(current)
    # Saved hunts live in Redis: listed when REDIS_URL names it, as `hunt NAME` finds them.
    saved = asyncio.run(_saved_hunts(current)) if current.redis_url is not None else []
    saved = [h for h in saved if catalog.find(h.name) is None]
    table = Table(show_lines=True, title=f"{len(catalog) + len(saved)} hunts")
    table.add_column("hunt", style="bold", no_wrap=True)
    table.add_column("what it finds")
    table.add_column("parameters")
    for hunt in sorted([*catalog, *saved], key=lambda h: h.name):
        params = "\n".join(
            f"{p.name} ({p.type.value}) " + ("required" if p.required else f"= {p.example}")
            for p in hunt.parameters
        )
        gap = catalog.lab_gaps.get(hunt.name)
        about = f"{hunt.title}\n[dim]{hunt.description.strip()}[/]"
        if hunt in saved:
            about += "\n[cyan]saved hunt (Redis)[/]"
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
    catalog = catalog_for(current)
    found = catalog.find(name)
    if found is None and current.redis_url is not None:
        found = asyncio.run(_saved_hunt(current, name))  # saved in Slack or by `hunts import`
    rendered = (found or catalog.get(name)).render(pair_arguments(arguments or []))
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


async def _saved_hunts(current: Settings) -> list[Hunt]:
    from bot.state.redis import open_redis
    from bot.state.saved_hunts import SavedHunts

    redis = open_redis(current)
    try:
        return [saved.hunt for saved in await SavedHunts(redis.client).all()]
    finally:
        await redis.aclose()


async def _saved_hunt(current: Settings, name: str) -> Hunt | None:
    from bot.state.redis import open_redis
    from bot.state.saved_hunts import SavedHunts

    redis = open_redis(current)
    try:
        saved = await SavedHunts(redis.client).get(name.strip().lower())
    finally:
        await redis.aclose()
    return None if saved is None else saved.hunt


@hunts_app.command("import")
def import_hunts(
    directory: Annotated[Path, typer.Argument(help="A folder of hunt files or Microsoft's YAML.")],
    run: Annotated[
        bool,
        typer.Option(
            help="Run each Microsoft query once (HUNT_BACKEND, 10 rows) to see its columns."
        ),
    ] = True,
) -> None:
    """Save every hunt file, and every query in Microsoft's hunting-query YAML, as a saved hunt."""
    current = settings()
    reports = asyncio.run(_import(current, directory, run))
    table = Table(title=f"{directory}: {len(reports)} files")
    for column in ("file", "outcome", "hunt", "why / how"):
        table.add_column(column, overflow="fold")
    for report in reports:
        style = "yellow" if report.outcome == "skipped" else ""
        table.add_row(
            Text(report.path), Text(report.outcome, style=style), report.name, Text(report.detail)
        )
    out.print(table)
    counts = {o: sum(r.outcome == o for r in reports) for o in ("imported", "updated", "skipped")}
    out.print(
        f"{counts['imported']} imported, {counts['updated']} updated, "
        f"{counts['skipped']} skipped.",
        highlight=False,
    )


async def _import(current: Settings, directory: Path, run: bool) -> list[FileReport]:
    from bot.defender.backends import open_backend
    from bot.flows.hunt_files import import_folder
    from bot.state.redis import open_redis
    from bot.state.saved_hunts import SavedHunts

    redis = open_redis(current)
    backend = await asyncio.to_thread(open_backend, current) if run else None
    try:
        store = SavedHunts(redis.client)
        return await import_folder(store, catalog_for(current), backend, directory)
    finally:
        if backend is not None:
            await backend.aclose()
        await redis.aclose()


@hunts_app.command("export")
def export_hunts(
    directory: Annotated[Path, typer.Argument(help="Where to write NAME.yaml for each.")],
) -> None:
    """Write every saved hunt as a hunt file, for review in git."""
    written = asyncio.run(_export(settings(), directory))
    for name, path in written:
        out.print(f"{name} -> {path}", highlight=False, markup=False)
    out.print(f"{len(written)} saved hunts written to {directory}.", highlight=False)


async def _export(current: Settings, directory: Path) -> list[tuple[str, Path]]:
    from bot.flows.hunt_files import export_folder
    from bot.state.redis import open_redis
    from bot.state.saved_hunts import SavedHunts

    redis = open_redis(current)
    try:
        return await export_folder(SavedHunts(redis.client), directory)
    finally:
        await redis.aclose()


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
    if sys.stdout.isatty():
        summary = _create_lab_showing_progress(target, rows, seed)
    else:
        summary = create_lab(target, rows=rows, seed=seed)
    out.print(f"Lab tenant written to {target} in {summary.seconds:.1f}s:", highlight=False)
    for table_name, count in sorted(summary.rows.items()):
        out.print(f"  {table_name:<28} {count:>9,} rows", highlight=False)


def _create_lab_showing_progress(target: Path, rows: int | None, seed: int) -> LabSummary:
    """`create_lab` with a progress bar of the rows made (on a terminal only)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

    from bot.defender.lab import create_lab
    from bot.defender.lab.generate import expected_rows

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("Making the lab's rows", total=expected_rows(rows))

        def made(done: int, expected: int) -> None:
            bar.update(task, completed=min(done, expected), total=expected)

        summary = create_lab(target, rows=rows, seed=seed, progress=made)
        bar.update(task, completed=bar.tasks[0].total)
    return summary


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
    _log_to_stderr(current)
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
            # What start-up made lives as long as the process: out of the collector's sight, a
            # full collection no longer walks it (about 15 us of every ack, benchmarks/README.md).
            gc.freeze()
            # Every request is POST /slack/events: an access log line each costs about 0.13 ms
            # of the ack (benchmarks/README.md) and says nothing the bot's own logs do not.
            config = uvicorn.Config(
                create_web_app(services, bolt),
                host=host,
                port=port,
                log_level="info",
                access_log=False,
                log_config=None,  # uvicorn's lines go through ours (LOG_FORMAT, redaction)
            )
            await uvicorn.Server(config).serve()
    finally:
        await services.aclose()


async def serve_socket_mode(
    services: Services, app_token: str, stop: asyncio.Event | None = None
) -> None:
    """`serve --socket-mode` once the services are up: connect out to Slack (SLACK_API_URL's
    apps.connections.open, then its WebSocket) and run jobs in this process until cancelled or
    told to stop (SIGTERM, or `stop` when given). Then the socket is closed at once and running
    jobs are finished; the caller's `services.aclose()` then finishes what was acknowledged. The
    tests run it against the stand-in in bot/workspace/socket_mode.py."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.app import create_bolt_app
    from bot.jobs import run_worker

    handler = AsyncSocketModeHandler(create_bolt_app(services), app_token)

    async def close_on(stopping: asyncio.Event) -> None:
        await stopping.wait()
        err.print("Stopping: closing the Socket Mode connection; finishing what was started.")
        await handler.close_async()

    with _stop_on_sigterm(stop) as stop:
        closing = asyncio.create_task(close_on(stop))
        try:
            await handler.connect_async()
            err.print("Connected to Slack over Socket Mode; running jobs in this process.")
            await run_worker(services, stop)
        finally:
            closing.cancel()
            await handler.close_async()


@contextmanager
def _stop_on_sigterm(stop: asyncio.Event | None = None) -> Iterator[asyncio.Event]:
    """`stop` (a new event if None), also set by SIGTERM (how a platform stops a process) for as
    long as the block runs."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        yield stop
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@app.command("worker")
def worker() -> None:
    """Run background jobs (hunts, exports) from the Redis queue."""
    current = settings()
    _log_to_stderr(current)
    asyncio.run(_work(current))


async def _work(current: Settings) -> None:
    from bot.app import start_services
    from bot.jobs import run_worker

    services = await start_services(current)
    try:
        if current.metrics_port is not None:
            from bot.metrics import serve_worker_metrics

            serve_worker_metrics(current.metrics_port)
        err.print(f"Worker consuming jobs from {services.redis.description}.")
        with _stop_on_sigterm() as stop:
            await run_worker(services, stop)
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


def _log_to_stderr(current: Settings) -> None:
    """Text or JSON lines (LOG_FORMAT) on stderr, carrying ids, never a secret (bot/logs.py)."""
    from bot.config import SECRET_SETTINGS
    from bot.logs import configure_logging

    secrets = []
    for name in SECRET_SETTINGS:
        value = getattr(current, name.lower(), None)
        secrets.append(value.get_secret_value() if value is not None else None)
    configure_logging(current.log_format, secrets)


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
