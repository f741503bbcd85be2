"""``flask realtime ...``: schema setup and session administration."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from .errors import StoreError
from .extension import get_state, revoke_session, revoke_user
from .sessions import SessionRecord, is_valid_session_id

realtime_cli = AppGroup("realtime", help="Sessions and schema of the realtime extension.")


def _fail(exc: StoreError) -> click.ClickException:
    return click.ClickException(f"{exc}. Check ARANGO_URL and that the database is reachable.")


@realtime_cli.command("init-db")
def init_db_command() -> None:
    """Create the database, collections and indexes if missing (safe to re-run)."""
    state = get_state()
    click.echo(f"Session store: {state.store.describe()}")
    try:
        created = state.extension.init_db()
    except StoreError as exc:
        raise _fail(exc) from exc
    for item in created:
        click.echo(f"created {item}")
    click.echo("Schema is up to date." if created else "Schema was already up to date; nothing to do.")


@realtime_cli.group("sessions")
def sessions_group() -> None:
    """List or revoke session records."""


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(record: SessionRecord) -> str:
    # Only a prefix of the sid: enough to tell sessions apart, useless to an
    # attacker reading a terminal log. `revoke` takes the full sid or --user.
    return f"{record.sid[:8]}…  {record.uid or '(anonymous)':<24} created {_when(record.created_at)}  expires {_when(record.expires_at)}"


@sessions_group.command("list")
@click.option("--user", "uid", help="Only the sessions of this uid.")
@click.option("--limit", default=50, show_default=True, help="At most this many (newest first).")
def list_command(uid: str | None, limit: int) -> None:
    """Show live session records (newest first)."""
    store = get_state().store
    try:
        records = store.sessions_of_user(uid) if uid else store.recent(limit)
    except StoreError as exc:
        raise _fail(exc) from exc
    now = store.clock()
    live = sorted((r for r in records if not r.is_expired(now)), key=lambda r: -r.created_at)[:limit]
    for record in live:
        click.echo(_row(record))
    click.echo(f"{len(live)} session(s)" + (f" of user {uid}" if uid else ""))


@sessions_group.command("revoke")
@click.argument("sid", required=False)
@click.option("--user", "uid", help="Revoke every session of this uid instead.")
def revoke_command(sid: str | None, uid: str | None) -> None:
    """Delete a session (or all of a user's) and disconnect its sockets."""
    if bool(sid) == bool(uid):
        raise click.UsageError("Give either a SID or --user UID.")
    try:
        if uid:
            sids = revoke_user(uid)
            click.echo(f"Revoked {len(sids)} session(s) of user {uid}.")
            return
        if not is_valid_session_id(sid):
            raise click.BadParameter("not a session id this app issues", param_hint="SID")
        revoke_session(sid)  # type: ignore[arg-type]
    except StoreError as exc:
        raise _fail(exc) from exc
    click.echo("Revoked 1 session.")


@realtime_cli.command("purge-expired")
def purge_expired_command() -> None:
    """Delete expired session records now (the TTL index also does this, every 30 s)."""
    try:
        count = get_state().store.purge_expired()
    except StoreError as exc:
        raise _fail(exc) from exc
    click.echo(f"Deleted {count} expired session(s).")
