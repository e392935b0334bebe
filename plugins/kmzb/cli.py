"""The `kmzb` command: database, loaders, tokens, and the development server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kmzb.db import cluster, connection, migrations, replica
from kmzb.db.setup import bring_up
from kmzb.errors import KmzbError
from kmzb.loaders.common import TableSummary
from kmzb.settings import Settings, SettingsError, load_settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj


def _fail_cleanly(func: Callable) -> Callable:
    """Errors meant for a person are printed as one line, with exit status 1."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KmzbError as exc:
            click.echo(f"kmzb: error: {exc}", err=True)
            sys.exit(1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """KMZB: Krajowa Mapa Zagrożeń Bezpieczeństwa (national safety-threat map)."""
    try:
        ctx.obj = load_settings()
    except SettingsError as exc:  # a malformed variable: one line naming it, no traceback
        click.echo(f"kmzb: error: {exc}", err=True)
        sys.exit(1)


@main.group()
def db() -> None:
    """The database: embedded cluster (default) or the server in DATABASE_URL."""


@db.command("up")
@click.pass_context
@_fail_cleanly
def db_up(ctx: click.Context) -> None:
    """Create/start the database and apply migrations."""
    settings = _settings(ctx)
    if settings.embedded:
        cluster.start(settings.embedded_port)
        click.echo(f"embedded PostGIS running on 127.0.0.1:{settings.embedded_port}")
    url = connection.ensure_database(settings)
    applied = migrations.apply_all(url)
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@db.command("down")
@click.pass_context
@_fail_cleanly
def db_down(ctx: click.Context) -> None:
    """Stop the embedded cluster (never touches a DATABASE_URL server)."""
    if not _settings(ctx).embedded:
        click.echo("DATABASE_URL is set: that server is not ours to stop")
        return
    click.echo("embedded PostGIS stopped" if cluster.stop() else "embedded PostGIS was not running")


@db.command("status")
@click.pass_context
@_fail_cleanly
def db_status(ctx: click.Context) -> None:
    """Say what runs where."""
    settings = _settings(ctx)
    if not settings.embedded:
        url = settings.database_url or ""
        with connection.connect(url) as conn:
            version = conn.execute("SELECT postgis_full_version()").fetchone()
        click.echo(f"using DATABASE_URL server, reachable; {version[0] if version else ''}")
        _echo_replicas(settings)
        return
    state = cluster.status(settings.embedded_port)
    if not state.initialised:
        click.echo(f"embedded PostGIS: not created (would live in {state.data_dir})")
    else:
        running = "running" if state.running else "stopped"
        click.echo(
            f"embedded PostGIS: {running} on 127.0.0.1:{state.port}, data in {state.data_dir}"
        )
        _echo_replicas(settings)


def _echo_replicas(settings: Settings) -> None:
    """One line per read replica: its port, state and replay lag (bytes and seconds)."""
    for found in replica.states(settings):
        click.echo(found.line())


@db.group("replica")
def db_replica() -> None:
    """The embedded cluster's read replica: a streaming hot standby on KMZB_REPLICA_PORT."""


@db_replica.command("up")
@click.pass_context
@_fail_cleanly
def db_replica_up(ctx: click.Context) -> None:
    """Create (pg_basebackup, slot kmzb_replica_1) and start the hot standby."""
    standby = replica.up(_settings(ctx))
    click.echo(
        f"embedded read replica running on 127.0.0.1:{standby.port}, data in {standby.data_dir} "
        "(restart the API and QGIS Server to send public reads to it)"
    )


@db_replica.command("down")
@click.pass_context
@_fail_cleanly
def db_replica_down(ctx: click.Context) -> None:
    """Stop the hot standby (its data and slot stay: `up` resumes streaming)."""
    stopped = replica.down(_settings(ctx))
    click.echo(
        "embedded read replica stopped" if stopped else "embedded read replica was not running"
    )


@db.command("migrate")
@click.pass_context
@_fail_cleanly
def db_migrate(ctx: click.Context) -> None:
    """Apply pending migrations from sql/."""
    url = connection.ensure_database(_settings(ctx))
    applied = migrations.apply_all(url)
    click.echo(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


@db.command("url")
@click.pass_context
@_fail_cleanly
def db_url(ctx: click.Context) -> None:
    """Print the libpq URL of the database (for psql, ogr2ogr, QGIS)."""
    click.echo(connection.server_url(_settings(ctx)))


@main.group()
def load() -> None:
    """Load real data (paths default to KMZB_DATA_DIR)."""


def _print_summaries(summaries: list[TableSummary]) -> None:
    for summary in summaries:
        click.echo(summary.line())


def _data_dir(settings: Settings, given: Path | None) -> Path | None:
    return given if given is not None else settings.data_dir


@load.command("units")
@click.option("--data-dir", type=click.Path(path_type=Path), help="folder of the real data")
@click.pass_context
@_fail_cleanly
def load_territorial_units_cmd(ctx: click.Context, data_dir: Path | None) -> None:
    """Country, województwa, powiaty and gminy with boundaries (TERYT 2026 codes)."""
    from kmzb.loaders.territorial_units import TerritorialUnitInputs, load_territorial_units

    settings = _settings(ctx)
    url = bring_up(settings)
    inputs = TerritorialUnitInputs.from_dir(_data_dir(settings, data_dir))
    _print_summaries(load_territorial_units(url, inputs, click.echo))


@load.command("police-units")
@click.argument("csv_path", required=False, type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), help="folder of the real data")
@click.pass_context
@_fail_cleanly
def load_police_units_cmd(ctx: click.Context, csv_path: Path | None, data_dir: Path | None) -> None:
    """Police units with their areas derived from powiaty (load units first)."""
    from kmzb.loaders.police_units import load_police_units

    settings = _settings(ctx)
    url = bring_up(settings)
    _print_summaries(load_police_units(url, _data_dir(settings, data_dir), csv_path, click.echo))


@load.command("statistics")
@click.option("--crime", type=click.Path(path_type=Path), help="crime CSV (GUS BDL)")
@click.option("--population", type=click.Path(path_type=Path), help="population CSV (GUS BDL)")
@click.option("--data-dir", type=click.Path(path_type=Path), help="folder of the real data")
@click.pass_context
@_fail_cleanly
def load_statistics_cmd(
    ctx: click.Context, crime: Path | None, population: Path | None, data_dir: Path | None
) -> None:
    """Crime statistics 2013-2024 and population (load units first)."""
    from kmzb.loaders.statistics import load_statistics

    settings = _settings(ctx)
    url = bring_up(settings)
    _print_summaries(
        load_statistics(url, _data_dir(settings, data_dir), crime, population, click.echo)
    )


@load.command("places")
@click.pass_context
@_fail_cleanly
def load_places_cmd(ctx: click.Context) -> None:
    """GeoNames places of Poland, for the offline basemap's names (part of `load all`)."""
    from kmzb.loaders.places import load_places

    url = bring_up(_settings(ctx))
    _print_summaries(load_places(url, click.echo))


@load.command("demo")
@click.option("--reports", "count", type=int, required=True, help="how many reports to add")
@click.option(
    "--years", type=int, default=3, show_default=True, help="spread over the last N years"
)
@click.pass_context
@_fail_cleanly
def load_demo_cmd(ctx: click.Context, count: int, years: int) -> None:
    """Add N plausible reports (population-weighted, real category and status mix)."""
    from kmzb.db import aggregates
    from kmzb.loaders.demo import load_demo

    url = bring_up(_settings(ctx))
    _print_summaries(load_demo(url, count, click.echo, years))
    click.echo(f"public_threat_cells refreshed in {aggregates.refresh(url):.1f} s")


@load.command("all")
@click.option("--data-dir", type=click.Path(path_type=Path), help="folder of the real data")
@click.pass_context
@_fail_cleanly
def load_all_cmd(ctx: click.Context, data_dir: Path | None) -> None:
    """Units, police units and statistics, in that order."""
    from kmzb.loaders.all import load_all

    settings = _settings(ctx)
    url = bring_up(settings)
    _print_summaries(load_all(url, _data_dir(settings, data_dir), click.echo))


@main.command("refresh-aggregates")
@click.pass_context
@_fail_cleanly
def refresh_aggregates_cmd(ctx: click.Context) -> None:
    """Recompute the map's grid of threat counts (tiles and WMS at small scales)."""
    from kmzb.db import aggregates

    url = bring_up(_settings(ctx))
    click.echo(f"public_threat_cells refreshed in {aggregates.refresh(url):.1f} s")


@main.command("purge")
@click.pass_context
@_fail_cleanly
def purge_cmd(ctx: click.Context) -> None:
    """Clear reporter hashes older than the limit window (`kmzb run` does it every 15 min)."""
    from kmzb.domain import reporters

    settings = _settings(ctx)
    url = bring_up(settings)
    purged = reporters.purge_hashes(url, settings)
    click.echo(
        f"reporter hashes older than {settings.reporter_hash_retention_hours} h cleared: {purged}"
    )


@main.group()
def token() -> None:
    """Development bearer tokens (signed with the local key in var/keys)."""


@token.command("issue")
@click.option(
    "--role", required=True, type=click.Choice(["officer", "coordinator", "partner", "admin"])
)
@click.option("--unit", help="police unit code (officer, coordinator), e.g. KMP-1261")
@click.option(
    "--institution", help="institution code (partner), e.g. SM-KRAKOW; see GET /institutions"
)
@click.option("--subject", default=None, help="who the token is for (default: role@unit)")
@click.option("--ttl", default=8 * 3600, show_default=True, help="lifetime in seconds")
@click.pass_context
@_fail_cleanly
def token_issue(
    ctx: click.Context,
    role: str,
    unit: str | None,
    institution: str | None,
    subject: str | None,
    ttl: int,
) -> None:
    """Print a signed JWT for the given role."""
    from kmzb.auth import tokens

    try:
        click.echo(
            tokens.issue(
                _settings(ctx),
                role,
                subject or f"{role}@{unit or institution or 'kmzb'}",
                unit=unit,
                institution=institution,
                ttl_seconds=ttl,
            )
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@main.group()
def partners() -> None:
    """Partner institutions' API keys (Open311 api_key): made, listed, revoked."""


@partners.command("add-key")
@click.argument("institution")
@click.option("--label", default="", help="what the key is for, e.g. the system using it")
@click.pass_context
@_fail_cleanly
def partners_add_key(ctx: click.Context, institution: str, label: str) -> None:
    """Make an API key for INSTITUTION (a code, e.g. SM-KRAKOW) and print it once."""
    from kmzb.domain import api_keys

    with connection.connect(bring_up(_settings(ctx))) as conn:
        key_id, key = api_keys.add(conn, institution, label)
    click.echo(key)
    click.echo(
        f"key {key_id} for {institution}: shown once, only its SHA-256 is kept; "
        f"revoke it with: kmzb partners revoke-key {key_id}",
        err=True,
    )


@partners.command("revoke-key")
@click.argument("key_id", type=int)
@click.pass_context
@_fail_cleanly
def partners_revoke_key(ctx: click.Context, key_id: int) -> None:
    """Revoke the API key KEY_ID (see `kmzb partners keys`)."""
    from kmzb.domain import api_keys

    with connection.connect(bring_up(_settings(ctx))) as conn:
        if not api_keys.revoke(conn, key_id):
            raise KmzbError(f"no key {key_id} in force")
    click.echo(f"key {key_id} revoked")


@partners.command("keys")
@click.pass_context
@_fail_cleanly
def partners_keys(ctx: click.Context) -> None:
    """List the API keys: id, institution, label, made, revoked (never the key)."""
    from kmzb.domain import api_keys

    with connection.connect(bring_up(_settings(ctx))) as conn:
        for key in api_keys.listing(conn):
            revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
            click.echo(
                f"{key.id}\t{key.institution}\t{key.label or '-'}\t"
                f"{key.created_at.isoformat(timespec='seconds')}\t{revoked}"
            )


@main.group()
def alerts() -> None:
    """Alerts over MQTT (issue 14): the outbox and its publisher."""


@alerts.command("publish")
@click.pass_context
@_fail_cleanly
def alerts_publish(ctx: click.Context) -> None:
    """Send the outbox to KMZB_MQTT_URL until stopped (production; `kmzb run` does it)."""
    import signal
    import threading

    from kmzb.alerts_publisher import Publisher

    settings = _settings(ctx)
    url = bring_up(settings)
    stop = threading.Event()

    def stopping(*_args: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    publisher = Publisher(url, settings, lambda line: click.echo(line, err=True))
    click.echo(f"alerts: publishing the outbox to {publisher.host}:{publisher.port}", err=True)
    publisher.run(stop)
    click.echo(f"alerts: stopped after {publisher.sent} message(s)", err=True)


@alerts.command("status")
@click.pass_context
@_fail_cleanly
def alerts_status(ctx: click.Context) -> None:
    """How many alerts wait in the outbox, and for how long the oldest."""
    from kmzb.domain import alerts as outbox

    url = bring_up(_settings(ctx))
    with connection.connect(url) as conn:
        state = outbox.status(conn)
    age = state.oldest_pending_age
    oldest = f"{age.total_seconds():.0f} s" if age is not None else "-"
    click.echo(f"pending: {state.pending}  oldest pending: {oldest}  sent: {state.sent}")


@main.command("run")
@click.pass_context
@_fail_cleanly
def run_cmd(ctx: click.Context) -> None:
    """Start everything for development on loopback; Ctrl-C stops it."""
    from kmzb.runner import run_all

    run_all(_settings(ctx))


if __name__ == "__main__":
    main()
