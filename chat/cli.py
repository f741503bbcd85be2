"""``flask realtime create-user``: accounts for the reference app."""

from __future__ import annotations

import click
from flask import current_app

from realtime import StoreError


@click.command("create-user")
@click.argument("username")
@click.password_option("--password", help="Prompted (twice, hidden) when not given.")
@click.option("--exist-ok", is_flag=True, help="If the user exists, set its password instead of failing.")
def create_user_command(username: str, password: str, exist_ok: bool) -> None:
    """Create a user of the reference app."""
    users = current_app.extensions["realtime.users"]
    try:
        created = users.set_password(username, password, update=exist_ok)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        hint = "Check ARANGO_URL and run `flask --app wsgi realtime init-db` first."
        raise click.ClickException(f"{exc}. {hint}") from exc
    click.echo(f"{'Created' if created else 'Updated'} user {username.strip().lower()!r}.")
