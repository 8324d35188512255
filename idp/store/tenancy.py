"""The one helper that scopes a query to an establishment."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select

from idp.models import Establishment

M = TypeVar("M")


def owned(model: type[M], establishment: Establishment, *criteria: Any) -> Select[tuple[M]]:
    """`SELECT model WHERE establishment_id = :id AND criteria…`"""
    column = model.establishment_id  # type: ignore[attr-defined]
    return select(model).where(column == establishment.id, *criteria)
