"""Users of the steward pages: add, change, authenticate (argon2id hashes, never the password itself).

    add_user(session, "li.wei", "steward", password)      `hub users add li.wei --role steward`
    authenticate(session, "li.wei", password) -> User | None

A failed sign-in costs the same time whether or not the name exists (a dummy hash is verified),
so the answer does not tell which names are users.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.steward_settings import ROLES
from hub.app.users_models import User
from hub.core.errors import HubError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10


class UserError(HubError):
    """A user cannot be added or changed as asked (bad name, role or password; unknown user)."""


@functools.lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """argon2id with the library's current recommended parameters."""
    return PasswordHasher()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("not a password of anyone")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_name(name: str) -> str:
    """The name, when it is 1–64 letters, digits or . _ @ - (it appears in audit rows)."""
    if not NAME.fullmatch(name):
        raise UserError("a user name is 1 to 64 letters, digits or . _ @ - (starting with a letter or digit)")
    return name


def check_role(role: str) -> str:
    """The role, when it is one of viewer, steward, admin."""
    if role not in ROLES:
        raise UserError(f"the role must be one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    """The password, when it is long enough to be worth hashing."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def get_user(session: Session, name: str) -> User | None:
    """The user of that name, or None."""
    return session.get(User, name)


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def add_user(session: Session, name: str, role: str, password: str | None) -> User:
    """A new user (password None: only a trusted proxy can sign them in)."""
    check_name(name)
    check_role(role)
    if get_user(session, name) is not None:
        raise UserError("a user of that name exists already")
    user = User(name=name, role=role, disabled=False,
                password_hash=hasher().hash(check_password(password)) if password is not None else None,
                password_changed_at=_now())
    session.add(user)
    session.flush()
    return user


def _existing(session: Session, name: str) -> User:
    user = get_user(session, name)
    if user is None:
        raise UserError("no such user")
    return user


def set_password(session: Session, name: str, password: str) -> User:
    """A new password; the user's sessions signed in before end."""
    user = _existing(session, name)
    user.password_hash = hasher().hash(check_password(password))
    user.password_changed_at = _now()
    return user


def set_role(session: Session, name: str, role: str) -> User:
    """Another role (takes effect on the user's next request)."""
    user = _existing(session, name)
    user.role = check_role(role)
    return user


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    """Disable (every session ends at once) or enable a user."""
    user = _existing(session, name)
    user.disabled = disabled
    return user


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user when the name and password are right and the user is enabled; rehashes old hashes."""
    user = get_user(session, name) if NAME.fullmatch(name) else None
    stored = user.password_hash if user is not None and not user.disabled else None
    try:
        hasher().verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or stored is None:
        return None
    if hasher().check_needs_rehash(stored):
        user.password_hash = hasher().hash(password)
    user.last_login_at = _now()
    return user


def session_stamp(user: User) -> str:
    """What a session remembers of the password: changing it ends the sessions signed in before."""
    moment = user.password_changed_at
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone
    return str(int(moment.timestamp() * 1000))
