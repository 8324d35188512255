"""The tables. Every establishment-owned row carries `establishment_id`; the store adds the
filter on it to every query (idp.store.tenancy)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.accounts.initial_passwords import InitialPasswords
from idp.accounts.roles import Role
from idp.db import Base, UTCDateTime
from idp.oauth.redirect_uris import matches
from idp.oauth.scopes import allowed_scope
from idp.security.tokens import secret_matches


def new_opaque_id() -> str:
    """An account's `sub`, a session's `sid`: random, and saying nothing of whose."""
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
    initial_passwords: Mapped[InitialPasswords] = mapped_column(
        Enum(
            InitialPasswords,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=InitialPasswords.BIRTH_DATE,
        server_default=InitialPasswords.BIRTH_DATE.value,
    )


class EstablishmentLook(Base):
    """How an establishment's pages look, set by its admin: a logo (in the database, so that
    every instance serves it) and an accent colour. Apart from the establishment's row,
    which is cached and copied: the logo is up to 200 KB."""

    __tablename__ = "establishment_looks"

    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE"), primary_key=True
    )
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(16))
    # `#rrggbb`, dark enough for white text (WCAG AA), or None for the default blue.
    accent: Mapped[str | None] = mapped_column(String(7))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("establishment_id", "login"),
        # The school register's identifiers (SIECLE): an account matches on either. NULLs
        # do not collide, on SQLite as on PostgreSQL.
        UniqueConstraint("establishment_id", "eleve_id"),
        UniqueConstraint("establishment_id", "ine"),
        Index("ix_users_establishment_id_role", "establishment_id", "role"),
        Index("ix_users_establishment_id_last_name", "establishment_id", "last_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    # The OIDC `sub`: stable and opaque, never the login (logins can change).
    sub: Mapped[str] = mapped_column(String(32), unique=True, default=new_opaque_id)
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
    # A random « mot de passe initial » handed out on a slip (incident mode) stops working
    # then (IDP_PROVISIONAL_PASSWORD_DAYS); cleared by any other password.
    password_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A temporary password sent by email (forgotten password): only the latest one, valid
    # until it expires; the personal password keeps working until it is used.
    temp_password_hash: Mapped[str | None] = mapped_column(String(255))
    temp_password_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SIECLE's ELEVE_ID and the national pupil identifier (INE): never sent to modules.
    eleve_id: Mapped[str | None] = mapped_column(String(20))
    ine: Mapped[str | None] = mapped_column(String(11))
    # When an import found the person gone (a leaving date passed, or absent from a full
    # export): the account and its personal data are purged IDP_LEAVER_RETENTION_DAYS later.
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    groups: Mapped[list[UserGroup]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="UserGroup.name",
        # Loaded when read (a query of its own); lists that show them load them in one
        # query with selectinload (idp.store.users).
        lazy="select",
    )

    def get_user_id(self) -> str:
        """Authlib's user id: the OIDC `sub`."""
        return self.sub

    @property
    def group_names(self) -> list[str]:
        """The groups that are not the class."""
        return [g.name for g in self.groups if not g.is_class]

    @property
    def class_names(self) -> list[str]:
        """The class (SIECLE's division; one, in practice)."""
        return [g.name for g in self.groups if g.is_class]

    @property
    def password_state(self) -> str:
        """`initial` (birth date), `initial_slip` (a random initial password handed out on a
        slip, which expires), `temporary` (must change) or `personal`."""
        if self.password_hash is None:
            return "initial"
        if not self.must_change_password:
            return "personal"
        return "initial_slip" if self.password_expires_at is not None else "temporary"


class UserGroup(Base):
    """A class (`Classe` in school exports, a division in SIECLE) or a group a user
    belongs to."""

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
    is_class: Mapped[bool] = mapped_column(Boolean, default=True)

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
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    # The scopes this module may ask for; None: all of them.
    allowed_scopes: Mapped[list[str] | None] = mapped_column(JSON)
    # For private_key_jwt: the client's public keys, inline or by URL.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(Text)
    # Set when the module is disabled: its tokens issued until then stay revoked if it is
    # enabled again. Its client_credentials tokens have no row of their own (the signed
    # token says everything), so this is what revokes them.
    tokens_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    # -- Authlib's ClientMixin (rfc6749.models), implemented on our model ----------------

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris or [])}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect requires redirect_uri in every request: no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        granted = allowed_scope(scope)
        if self.allowed_scopes is None:
            return granted
        # A scope the module was not registered for is dropped, like an unknown one.
        return " ".join(s for s in granted.split() if s in self.allowed_scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(
            matches(registered, redirect_uri, self.public) for registered in self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and secret_matches(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A client with a secret may present it either way: off-the-shelf libraries differ
        # in their default, and both carry the same secret over TLS.
        with_secret = ("client_secret_basic", "client_secret_post")
        if self.token_endpoint_auth_method in with_secret:
            return method in with_secret
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return not self.public
        return grant_type in ("authorization_code", "refresh_token")


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
    sid: Mapped[str] = mapped_column(String(32), unique=True, default=new_opaque_id)
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


class SigningKey(Base):
    """An establishment's key for signing tokens; the private part encrypted at rest.

    A key is published in the JWKS from `created_at`, signs from `active_from` (later than
    creation after a rotation, so that modules holding a cached JWKS already know it), stops
    signing at `retire_at` and leaves the JWKS at `publish_until`, once every token it signed
    has expired.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_establishment_id", "establishment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active_from: Mapped[datetime] = mapped_column(UTCDateTime)
    retire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingAuthorization(Base):
    """An authorization request waiting for the user to sign in (or change a password, or
    consent): stored so that it survives those steps, resumed by its id."""

    __tablename__ = "pending_authorizations"
    __table_args__ = (Index("ix_pending_authorizations_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CodeMethods:
    """Authlib's AuthorizationCodeMixin (oidc.core.models), for a stored code and for the
    plain-column copy its redemption reads (idp.store.codes.Redeemed)."""

    redirect_uri: str
    scope: str
    nonce: str | None
    auth_time: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class AuthorizationCode(CodeMethods, Base):
    """A code, stored as its hash; claimed once with a conditional UPDATE."""

    __tablename__ = "authorization_codes"
    __table_args__ = (Index("ix_authorization_codes_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sso_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="SET NULL")
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    # The `claims` request parameter (OIDC Core 5.5), as requested.
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(Base):
    """An access token (a JWT, recorded by its `jti`) and, optionally, its refresh token
    (stored as its hash). Refresh tokens rotate: each use makes a new row of the same
    family; reusing a rotated one revokes the whole family."""

    __tablename__ = "tokens"
    __table_args__ = (
        Index("ix_tokens_establishment_id_user_id", "establishment_id", "user_id"),
        Index("ix_tokens_family", "family"),
        Index("ix_tokens_code_id", "code_id"),
        Index("ix_tokens_sso_session_id", "sso_session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sso_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="SET NULL")
    )
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL")
    )
    family: Mapped[str] = mapped_column(String(32))
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Refresh tokens of offline_access outlive the SSO session.
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # -- Authlib's TokenMixin (rfc6749.models); expiry is judged by our clock elsewhere --

    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client: Client) -> bool:
        return self.client_pk == client.id

    def get_expires_in(self) -> int:
        return int((self.access_expires_at - self.created_at).total_seconds())

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Consent(Base):
    """A third-party client's approval, valid for one SSO session."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("sso_session_id", "client_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    sso_session_id: Mapped[int] = mapped_column(ForeignKey("sso_sessions.id", ondelete="CASCADE"))
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingImport(Base):
    """A CSV file between its preview and its import, then the list of created logins to
    download; kept an hour."""

    __tablename__ = "pending_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    role: Mapped[str] = mapped_column(String(16))
    created_csv: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackchannelNotice(Base):
    """The back-channel logout outbox (OpenID Connect Back-Channel Logout 1.0): one row per
    module to tell that a session ended, written in the transaction that ends it, sent by
    idp.oauth.backchannel until delivered, refused, or given up on.

    Pending rows have `next_attempt_at`; a sender sets `claimed_until` while it delivers, so
    that a sender that dies leaves the row to another one once the lease is over. Finished
    rows (`delivered_at` or `abandoned_at`) have neither, and are purged a day later.
    """

    __tablename__ = "backchannel_notices"
    __table_args__ = (
        Index("ix_backchannel_notices_next_attempt_at", "next_attempt_at"),
        Index("ix_backchannel_notices_establishment_id", "establishment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE")
    )
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    alg: Mapped[str] = mapped_column(String(8))
    sub: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    # Fixed at enqueue time: every attempt carries it, so the module can drop a duplicate.
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the last attempt failed (an HTTP status or an exception's name), for operators.
    last_error: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedAssertion(Base):
    """A private_key_jwt assertion already presented (RFC 7523 §3 item 7), remembered until
    it expires so that no instance accepts it twice. The key is the primary key: two
    instances inserting the same assertion at once, one of them fails."""

    __tablename__ = "used_assertions"
    __table_args__ = (Index("ix_used_assertions_expires_at", "expires_at"),)

    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishments.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the `jti`: the client chooses it, of any length.
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The assertion's `exp` plus the leeway it is accepted with.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CacheGeneration(Base):
    """One row whose value every change to cached data moves (idp.caches): each instance
    reads it at most every IDP_CACHE_SECONDS and drops its caches when it has moved."""

    __tablename__ = "cache_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
