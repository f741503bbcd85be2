"""``flask realtime ...``: schema setup and session administration."""

from __future__ import annotations

import datetime as dt
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

from .config import message_queue_url
from .errors import StoreError
from .helpers import revoke_session, revoke_user
from .sessions import SessionRecord, SessionStore, is_valid_session_id
from .state import get_state

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
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(record: SessionRecord) -> str:
    # Only a prefix of the sid: enough to tell sessions apart, useless to an
    # attacker reading a terminal log. `revoke --user UID PREFIX` takes it back.
    who = record.uid or "(anonymous)"
    return f"{record.sid[:8]}…  {who:<24} created {_when(record.created_at)}  expires {_when(record.expires_at)}"


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
    live = sorted((r for r in records if not r.is_expired(now)), key=lambda r: -r.created_at)
    for record in live[:limit]:
        click.echo(_row(record))
    footer = f"{min(len(live), limit)} session(s)" + (f" of user {uid}" if uid else "")
    if len(live) > limit or (not uid and len(records) >= limit):
        footer += f" (the newest {limit}; --limit N shows more)"
    click.echo(footer)
    if live and not uid:
        click.echo("Revoke one: flask realtime sessions revoke --user UID PREFIX; all of a user's: --user UID.")


# A session id is URL-safe base64, so one in 32 starts with "-": without
# ignore_unknown_options click would take "-AbC…" for an option and refuse it.
@sessions_group.command("revoke", context_settings={"ignore_unknown_options": True})
@click.argument("sid", required=False)
@click.option("--user", "uid", help="Revoke every session of this uid, or with SID the one whose id starts with SID.")
def revoke_command(sid: str | None, uid: str | None) -> None:
    """Delete a session (or all of a user's) and disconnect its sockets.

    \b
    revoke SID                one session, by its full id
    revoke --user UID         every session of UID
    revoke --user UID PREFIX  the session of UID whose id starts with PREFIX,
                              as `sessions list` shows it
    """
    if not sid and not uid:
        raise click.UsageError("Give a SID, --user UID, or both (to pick one of the user's sessions by its prefix).")
    state = get_state()
    try:
        if not sid:
            sids = revoke_user(t.cast(str, uid))
            click.echo(f"Revoked {len(sids)} session(s) of user {uid}.")
        else:
            target = _resolve_session(state.store, sid, uid)
            existed = state.store.get(target) is not None
            revoke_session(target)
            owner = f" of user {uid}" if uid else ""
            if existed:
                click.echo(f"Revoked session {target[:8]}…{owner}.")
            else:
                click.echo(f"No live session {target[:8]}…{owner}; nothing to revoke (its sockets are told anyway).")
    except StoreError as exc:
        raise _fail(exc) from exc
    click.echo(_where_sockets_end(current_app.config))


def _resolve_session(store: SessionStore, sid: str, uid: str | None) -> str:
    """The full session id that ``sid`` names: itself, or with ``uid`` the one session it is a prefix of."""
    prefix = sid.rstrip("…").rstrip(".")
    if uid is None:
        if not is_valid_session_id(prefix):
            raise click.BadParameter(
                "not a full session id. To revoke by the prefix that `sessions list` shows, add --user UID.",
                param_hint="SID",
            )
        return prefix
    if len(prefix) < 4:
        raise click.BadParameter("give at least 4 characters of the session id.", param_hint="SID")
    matches = [r.sid for r in store.sessions_of_user(uid) if r.sid.startswith(prefix)]
    if len(matches) > 1:
        raise click.BadParameter(
            f"{sid!r} names more than one session of user {uid}; give more of it.", param_hint="SID"
        )
    if not matches:
        raise click.BadParameter(f"user {uid} has no session starting with {prefix!r}.", param_hint="SID")
    return matches[0]


def _where_sockets_end(config: t.Mapping[str, t.Any]) -> str:
    if message_queue_url(config):
        return "Their sockets are disconnected on every instance (through the message queue)."
    interval = float(config.get("REALTIME_REVALIDATE_INTERVAL") or 0)
    if interval:
        return (
            "No message queue is configured, so running instances are not told now: they disconnect these sockets"
            f" at their next revalidation, within {interval:g} s."
        )
    return "No message queue is configured and revalidation is off: live sockets stay until they disconnect."


@realtime_cli.command("purge-expired")
def purge_expired_command() -> None:
    """Delete expired session records now (the TTL index also does this, every 30 s)."""
    try:
        count = get_state().store.purge_expired()
    except StoreError as exc:
        raise _fail(exc) from exc
    click.echo(f"Deleted {count} expired session(s).")
