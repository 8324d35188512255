"""The tables. Every establishment-owned row carries `establishment_id`; the store adds the
filter on it to every query (idp.store.tenancy)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.accounts.roles import Role
from idp.db import Base, UTCDateTime


def _new_sub() -> str:
    return uuid.uuid4().hex


class Establishment(Base):
    __tablename__ = "establishments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    uai: Mapped[str] = mapped_column(String(8), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("establishment_id", "login"),
        Index("ix_users_establishment_id_role", "establishment_id", "role"),
        Index("ix_users_establishment_id_last_name", "establishment_id", "last_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    # The OIDC `sub`: stable and opaque, never the login (logins can change).
    sub: Mapped[str] = mapped_column(String(32), unique=True, default=_new_sub)
    login: Mapped[str] = mapped_column(String(20))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # None only for the admin account, which has no birth-date password.
    birth_date: Mapped[date | None] = mapped_column(Date)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the account is on its initial (birth-date) password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # The password in `password_hash` was not chosen by the user (admin's generated one,
    # an operator's --temporary): it must be changed at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    groups: Mapped[list[UserGroup]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="UserGroup.name",
        lazy="selectin",
    )

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    @property
    def password_state(self) -> str:
        """`initial` (birth date), `temporary` (must change) or `personal`."""
        if self.password_hash is None:
            return "initial"
        return "temporary" if self.must_change_password else "personal"


class UserGroup(Base):
    """A class or group (`Classe` in school exports) a user belongs to."""

    __tablename__ = "user_groups"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        Index("ix_user_groups_establishment_id_name", "establishment_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))

    user: Mapped[User] = relationship(back_populates="groups")


class Client(Base):
    """A relying party: a CPRO learning module registered at one establishment."""

    __tablename__ = "clients"
    __table_args__ = (Index("ix_clients_establishment_id", "establishment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the secret; None for a public client.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    # First-party modules (the default) skip the consent screen.
    third_party: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name


class AuditEvent(Base):
    """Who did what, when, from where. Never a password, token, code or secret."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_establishment_id_at", "establishment_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for platform-level events (an operator creating an establishment is recorded
    # under that establishment; a failed `establishment create` under none).
    establishment_id: Mapped[int | None] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    # Who acted: a login, `operator` for the CLI, or `system`.
    actor: Mapped[str | None] = mapped_column(String(64))
    # Whom or what it was about: a login or a client_id.
    subject: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SsoSession(Base):
    """A signed-in browser at one establishment. The cookie carries a random token; the
    table keeps its SHA-256 only, so a copy of the database opens no session."""

    __tablename__ = "sso_sessions"
    __table_args__ = (
        Index("ix_sso_sessions_establishment_id_user_id", "establishment_id", "user_id"),
        Index("ix_sso_sessions_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The OIDC `sid` claim: public, and useless without the cookie.
    sid: Mapped[str] = mapped_column(String(32), unique=True, default=_new_sub)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The absolute end: idle expiry is last_seen_at + the idle lifetime.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship(lazy="joined")


class Throttle(Base):
    """Failed sign-ins counted per account and per client IP, shared by every instance.

    `scope` is `account:{user id}` (with the establishment's id) or `ip:{address}` (across
    establishments: one address guessing at several schools is one attacker).
    """

    __tablename__ = "throttles"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    establishment_id: Mapped[int | None] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
