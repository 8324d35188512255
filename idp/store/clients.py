from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from idp.models import Client, Establishment
from idp.store.tenancy import owned


def by_client_id(session: Session, establishment: Establishment, client_id: str) -> Client | None:
    return session.scalar(owned(Client, establishment, Client.client_id == client_id))


def all_of(session: Session, establishment: Establishment) -> Sequence[Client]:
    return session.scalars(owned(Client, establishment).order_by(Client.name)).all()


def add(
    session: Session,
    establishment: Establishment,
    *,
    client_id: str,
    name: str,
    secret_hash: str | None,
    token_endpoint_auth_method: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    backchannel_logout_uri: str | None,
    third_party: bool,
    now: datetime,
) -> Client:
    client = Client(
        establishment_id=establishment.id,
        client_id=client_id,
        name=name,
        secret_hash=secret_hash,
        token_endpoint_auth_method=token_endpoint_auth_method,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        third_party=third_party,
        enabled=True,
        created_at=now,
    )
    session.add(client)
    session.flush()
    return client
