"""The only URL table. Every route has a name; paths are built from the names (idp.urls),
in Python and in templates, never spelled out twice."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.web import account, forgot, health, login, look, oidc, pages, password, students
from idp.web.admin import activity as admin_activity
from idp.web.admin import clients as admin_clients
from idp.web.admin import dashboard as admin_dashboard
from idp.web.admin import imports as admin_imports
from idp.web.admin import incident as admin_incident
from idp.web.admin import look as admin_look
from idp.web.admin import passwords as admin_passwords
from idp.web.admin import users as admin_users
from idp.web.transactions import Endpoint, unit_of_work

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def route(
    path: str,
    endpoint: Endpoint,
    *,
    methods: list[str] | None = None,
    name: str | None = None,
    write: bool = True,
) -> Route:
    """A route whose handler runs in a unit of work of its own (idp.web.transactions)."""
    return Route(path, unit_of_work(endpoint, write=write), methods=methods, name=name)


def routes() -> list[BaseRoute]:
    return [
        route("/", pages.home, name="home"),
        Route("/healthz", health.healthz, name="healthz"),
        Route("/readyz", health.readyz, name="readyz"),
        Route("/metrics", health.metrics, name="metrics"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        # Browsers and bookmarks ask for /favicon.ico whatever the page says.
        Route(
            "/favicon.ico",
            lambda request: RedirectResponse(
                request.app.url_path_for("static", path="/favicon.svg"), 301
            ),
            name="favicon",
        ),
        route(
            "/.well-known/oauth-authorization-server/{code}",
            oidc.oauth_metadata,
            name="oauth_metadata",
            write=False,
        ),
        route("/{code}", account.home, name="establishment"),
        route(
            "/{code}/.well-known/openid-configuration",
            oidc.discovery,
            name="discovery",
            write=False,
        ),
        route("/{code}/oidc/jwks", oidc.jwks, name="jwks"),
        route("/{code}/oidc/authorize", oidc.authorize, methods=["GET", "POST"], name="authorize"),
        route("/{code}/oidc/authorize/resume", oidc.resume, name="authorize_resume"),
        route(
            "/{code}/oidc/authorize/cancel",
            oidc.cancel,
            methods=["POST"],
            name="authorize_cancel",
        ),
        route(
            "/{code}/oidc/authorize/consent",
            oidc.consent_decision,
            methods=["POST"],
            name="authorize_consent",
        ),
        route("/{code}/oidc/token", oidc.token, methods=["POST"], name="token"),
        route(
            "/{code}/oidc/userinfo",
            oidc.userinfo,
            methods=["GET", "POST"],
            name="userinfo",
            write=False,
        ),
        route("/{code}/oidc/revoke", oidc.revoke, methods=["POST"], name="revoke"),
        route("/{code}/oidc/introspect", oidc.introspect, methods=["POST"], name="introspect"),
        route("/{code}/oidc/logout", oidc.end_session, methods=["GET", "POST"], name="end_session"),
        route("/{code}/logo", look.logo, methods=["GET"], name="logo", write=False),
        route("/{code}/theme.css", look.theme, methods=["GET"], name="theme", write=False),
        route("/{code}/login", login.show, methods=["GET"], name="login"),
        route("/{code}/login", login.submit, methods=["POST"]),
        route("/{code}/password/change", password.show, methods=["GET"], name="password_change"),
        route("/{code}/password/change", password.submit, methods=["POST"]),
        route("/{code}/password/forgot", forgot.show, methods=["GET"], name="password_forgot"),
        route("/{code}/password/forgot", forgot.submit, methods=["POST"]),
        route("/{code}/students", students.page, methods=["GET"], name="students"),
        route("/{code}/students/reset", students.confirm, methods=["GET"], name="students_reset"),
        route("/{code}/students/reset", students.reset, methods=["POST"]),
        route(
            "/{code}/students/slips", students.slips_page, methods=["GET"], name="students_slips"
        ),
        route(
            "/{code}/students/slips.pdf",
            students.slips_pdf,
            methods=["GET"],
            name="students_slips_pdf",
        ),
        route("/{code}/logout", account.logout_page, methods=["GET"], name="logout"),
        route("/{code}/admin", admin_dashboard.dashboard, name="admin"),
        route("/{code}/admin/users", admin_users.index, name="admin_users"),
        route("/{code}/admin/users/new", admin_users.new, methods=["GET"], name="admin_user_new"),
        route("/{code}/admin/users/new", admin_users.create, methods=["POST"]),
        route("/{code}/admin/users/{login}", admin_users.show, methods=["GET"], name="admin_user"),
        route("/{code}/admin/users/{login}", admin_users.update, methods=["POST"]),
        route(
            "/{code}/admin/users/{login}/edit",
            admin_users.edit,
            methods=["GET"],
            name="admin_user_edit",
        ),
        route(
            "/{code}/admin/users/{login}/{action}",
            admin_users.confirm,
            methods=["GET"],
            name="admin_user_confirm",
        ),
        route(
            "/{code}/admin/users/{login}/{action}",
            admin_users.action,
            methods=["POST"],
            name="admin_user_action",
        ),
        route("/{code}/admin/clients", admin_clients.index, name="admin_clients"),
        route(
            "/{code}/admin/clients/new",
            admin_clients.new,
            methods=["GET"],
            name="admin_client_new",
        ),
        route("/{code}/admin/clients/new", admin_clients.create, methods=["POST"]),
        route(
            "/{code}/admin/clients/{client_id}",
            admin_clients.show,
            methods=["GET"],
            name="admin_client",
        ),
        route("/{code}/admin/clients/{client_id}", admin_clients.update, methods=["POST"]),
        route(
            "/{code}/admin/clients/{client_id}/edit",
            admin_clients.edit,
            methods=["GET"],
            name="admin_client_edit",
        ),
        route(
            "/{code}/admin/clients/{client_id}/{action}",
            admin_clients.action,
            methods=["POST"],
            name="admin_client_action",
        ),
        route(
            "/{code}/admin/sessions",
            admin_activity.sessions_page,
            methods=["GET"],
            name="admin_sessions",
        ),
        route(
            "/{code}/admin/sessions/end",
            admin_activity.end,
            methods=["POST"],
            name="admin_sessions_end",
        ),
        route(
            "/{code}/admin/audit", admin_activity.audit_page, methods=["GET"], name="admin_audit"
        ),
        route(
            "/{code}/admin/audit.csv",
            admin_activity.audit_csv,
            methods=["GET"],
            name="admin_audit_csv",
        ),
        route(
            "/{code}/admin/import",
            admin_imports.upload_page,
            methods=["GET"],
            name="admin_import",
        ),
        route("/{code}/admin/import", admin_imports.preview, methods=["POST"]),
        route(
            "/{code}/admin/import/confirm",
            admin_imports.confirm,
            methods=["POST"],
            name="admin_import_confirm",
        ),
        route(
            "/{code}/admin/import/created.csv",
            admin_imports.download,
            methods=["GET"],
            name="admin_import_created",
        ),
        route("/{code}/admin/look", admin_look.show, methods=["GET"], name="admin_look"),
        route(
            "/{code}/admin/incident", admin_incident.show, methods=["GET"], name="admin_incident"
        ),
        route("/{code}/admin/incident", admin_incident.declare, methods=["POST"]),
        route("/{code}/admin/look", admin_look.change, methods=["POST"]),
        route(
            "/{code}/admin/passwords",
            admin_passwords.show,
            methods=["GET"],
            name="admin_passwords",
        ),
        route("/{code}/admin/passwords", admin_passwords.change, methods=["POST"]),
        route(
            "/{code}/admin/import/modele.csv",
            admin_imports.template,
            methods=["GET"],
            name="admin_import_template",
        ),
        route("/{code}/logout", account.logout, methods=["POST"]),
    ]
