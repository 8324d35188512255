"""The console's incident mode: refused without the establishment's code typed again; done,
it shows the new initial passwords on slips once, and the old passwords stop working."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

from sqlalchemy import func, select

from helpers import csrf_from, sign_in
from idp.accounts.roles import Role
from idp.models import AuditEvent
from idp.services import accounts

ADMIN_PASSWORD = "un admin bien gardé ici"
PERSONAL = "la mer est calme ce matin"


def test_the_console_replaces_the_pupils_passwords_after_the_code_is_typed(  # type: ignore[no-untyped-def]
    client, rt, school
):
    rt.run(accounts.set_password, school, "0750655e", ADMIN_PASSWORD, temporary=False)
    for first, born in (("Lea", date(2009, 3, 14)), ("Hugo", date(2009, 5, 2))):
        rt.run(accounts.add, school, first_name=first, last_name="Martin", birth_date=born,
               role=Role.STUDENT, groups=["2BAC"])  # fmt: skip
    rt.run(accounts.set_password, school, "lea.martin", PERSONAL, temporary=False)
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
    dashboard = client.get(f"/{school}/admin")
    assert f'href="/{school}/admin/incident"' in dashboard.text
    form = client.get(f"/{school}/admin/incident")
    csrf = csrf_from(form.text)

    unknown = client.post(
        f"/{school}/admin/incident", data={"csrf_token": csrf, "role": "pupils", "confirm": school}
    )
    assert unknown.status_code == 400  # never widened to every account
    refused = client.post(
        f"/{school}/admin/incident", data={"csrf_token": csrf, "role": "student", "confirm": "x"}
    )
    assert refused.status_code == 400
    assert "Tapez le code de l'établissement (lp-a)" in unescape(refused.text)
    with rt.database.session() as session:
        assert not session.scalar(
            select(func.count()).where(AuditEvent.type == "establishment.incident")
        )

    done = client.post(
        f"/{school}/admin/incident",
        data={"csrf_token": csrf, "role": "student", "confirm": school},
    )
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    shown = unescape(done.text)
    assert "Imprimez ces fiches maintenant" in shown
    passwords = dict(
        re.findall(
            r"Identifiant : <strong>([a-z.]+)</strong>.*?"
            r'<code class="slip-password">([^<]+)</code>',
            done.text,
            re.S,
        )
    )
    assert set(passwords) == {"lea.martin", "hugo.martin"}
    client.cookies.clear()
    assert sign_in(client, school, "lea.martin", PERSONAL).status_code != 303
    assert sign_in(client, school, "hugo.martin", "02052009").status_code != 303
    first = sign_in(client, school, "hugo.martin", passwords["hugo.martin"])
    assert first.status_code == 303 and "/password/change" in first.headers["location"]
    # Only pupils were chosen: the admin keeps the password it has.
    client.cookies.clear()
    assert sign_in(client, school, "0750655E", ADMIN_PASSWORD).status_code == 303
