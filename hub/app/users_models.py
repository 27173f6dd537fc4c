"""The web app's users: name, role and password hash (argon2id), for the steward pages.

Migration `hub/core/migrations/versions/0006_users.py` creates the table (written by hand like
the others). Users signed in by a trusted reverse proxy need no row here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.models import Base


class User(Base):
    """One person who may sign in to the steward pages."""

    __tablename__ = "hub_user"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | steward | admin
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A session remembers this: changing the password ends every session signed in before.
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (CheckConstraint("role IN ('viewer', 'steward', 'admin')", name="ck_hub_user_role"),)
