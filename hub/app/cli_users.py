"""`hub users …`: who may sign in to the steward pages, with which role.

    hub users add li.wei --role steward                  password prompted (twice, not echoed)
    hub users add li.wei --role steward --password-file /run/secrets/li_wei
    HUB_NEW_PASSWORD=… hub users add li.wei --password-env HUB_NEW_PASSWORD
    hub users list | passwd NAME | role NAME ROLE | disable NAME | enable NAME

A password is never a command-line argument (it would land in the shell history and `ps`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from hub.app import users as accounts
from hub.app.steward_settings import ROLES
from hub.core.db import open_database
from hub.core.errors import HubError
from hub.core.settings import get_settings

console = Console()


@contextmanager
def _session() -> Iterator[Session]:
    """One transaction on the hub's database; hub errors become a message and exit code 2."""
    db = None
    try:
        db = open_database(get_settings().database_url.get_secret_value())
        with db.transaction() as session:
            yield session
    except HubError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    finally:
        if db is not None:
            db.dispose()


def _password(password_file: Path | None, password_env: str | None, *, confirm: bool = True) -> str:
    """The new password from a file ('-': standard input), a named environment variable, or a prompt."""
    if password_file is not None and password_env:
        raise click.UsageError("give --password-file or --password-env, not both")
    if password_file is not None:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text(encoding="utf-8")
        return text.rstrip("\r\n")
    if password_env:
        # Read here, by the name the operator chose (the settings never hold a user's password).
        value = os.environ.get(password_env)
        if value is None:
            raise click.UsageError(f"the environment variable {password_env} is not set")
        return value
    return str(click.prompt("password", hide_input=True, confirmation_prompt=confirm))


_PASSWORD_FILE = click.option("--password-file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                              help="read the password from this file ('-': standard input)")
_PASSWORD_ENV = click.option("--password-env", metavar="VAR", help="read the password from this environment variable")


@click.group("users")
def users() -> None:
    """Users of the steward web pages (viewer, steward, admin)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@_PASSWORD_FILE
@_PASSWORD_ENV
@click.option("--no-password", is_flag=True, help="no password: the user signs in through the trusted proxy only")
def add(name: str, role: str, password_file: Path | None, password_env: str | None, no_password: bool) -> None:
    """Add a user (the password is prompted, or read from a file or environment variable)."""
    if not accounts.NAME.fullmatch(name):  # before asking for a password that would be thrown away
        _fail("a user name is 1 to 64 letters, digits or . _ @ -")
    password = None if no_password else _password(password_file, password_env)
    with _session() as session:
        accounts.add_user(session, name, role, password)
    console.print(f"added {name} ({role})", highlight=False)


@users.command("list")
def list_command() -> None:
    """Every user with role, state and last sign-in."""
    with _session() as session:
        table = Table("name", "role", "state", "password", "last sign-in")
        for user in accounts.list_users(session):
            table.add_row(user.name, user.role, "disabled" if user.disabled else "enabled",
                          "set" if user.password_hash else "proxy only",
                          user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "–")
    console.print(table)


@users.command("passwd")
@click.argument("name")
@_PASSWORD_FILE
@_PASSWORD_ENV
def passwd(name: str, password_file: Path | None, password_env: str | None) -> None:
    """Set a new password (the user's sessions signed in before end)."""
    password = _password(password_file, password_env)
    with _session() as session:
        accounts.set_password(session, name, password)
    console.print(f"password of {name} changed", highlight=False)


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def role_command(name: str, role: str) -> None:
    """Give a user another role (effective on their next request)."""
    with _session() as session:
        accounts.set_role(session, name, role)
    console.print(f"{name} is now {role}", highlight=False)


@users.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable a user (their sessions end at once)."""
    with _session() as session:
        accounts.set_disabled(session, name, True)
    console.print(f"{name} disabled", highlight=False)


@users.command("enable")
@click.argument("name")
def enable(name: str) -> None:
    """Enable a disabled user again."""
    with _session() as session:
        accounts.set_disabled(session, name, False)
    console.print(f"{name} enabled", highlight=False)


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(2)
