"""The audit log's types are one enumeration: `record` takes a member and stores its value,
the very string the console and the CSV export show."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.models import AuditEvent
from idp.store import audit, establishments
from idp.store.audit import EventType


def test_an_event_is_stored_under_its_types_value(rt, school):
    now = rt.clock.now()
    with rt.database.session() as session:
        establishment = establishments.by_code(session, school)
        audit.record(session, establishment, EventType.LOGIN_FAILURE, at=now, subject="x")
    with rt.database.session() as session:
        establishment = establishments.by_code(session, school)
        stored = session.scalars(select(AuditEvent.type).where(AuditEvent.subject == "x")).all()
        assert stored == ["login.failure"]
        assert type(stored[0]) is str
        counted = audit.count_since(session, establishment, [EventType.LOGIN_FAILURE], now)
        assert counted == 1


@pytest.mark.parametrize("free", ["login.failure", "something.new", None])
def test_a_free_string_is_refused(rt, school, free):
    with rt.database.session() as session:
        establishment = establishments.by_code(session, school)
        before = len(audit.recent(session, establishment))
        with pytest.raises(TypeError):
            audit.record(session, establishment, free, at=rt.clock.now())  # type: ignore[arg-type]
        assert len(audit.recent(session, establishment)) == before


def test_values_are_unique_and_stay_within_the_column():
    values = [t.value for t in EventType]
    assert len(values) == len(set(values))
    assert all(len(v) <= AuditEvent.type.type.length for v in values)
