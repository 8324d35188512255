"""The only URL table (DESIGN.md, "URL map")."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from idp.web import account, forgot, health, login, oidc, pages, password, students
from idp.web.admin import activity as admin_activity
from idp.web.admin import clients as admin_clients
from idp.web.admin import dashboard as admin_dashboard
from idp.web.admin import imports as admin_imports
from idp.web.admin import users as admin_users

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home, name="home"),
        Route("/healthz", health.healthz, name="healthz"),
        Route("/readyz", health.readyz, name="readyz"),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        # Browsers and bookmarks ask for /favicon.ico whatever the page says.
        Route("/favicon.ico", lambda request: RedirectResponse("/static/favicon.svg", 301)),
        Route("/.well-known/oauth-authorization-server/{code}", oidc.oauth_metadata),
        Route("/{code}", account.home, name="establishment"),
        Route("/{code}/.well-known/openid-configuration", oidc.discovery, name="discovery"),
        Route("/{code}/oidc/jwks", oidc.jwks, name="jwks"),
        Route("/{code}/oidc/authorize", oidc.authorize, methods=["GET", "POST"], name="authorize"),
        Route("/{code}/oidc/authorize/resume", oidc.resume, name="authorize_resume"),
        Route("/{code}/oidc/authorize/consent", oidc.consent_decision, methods=["POST"]),
        Route("/{code}/oidc/token", oidc.token, methods=["POST"], name="token"),
        Route("/{code}/oidc/userinfo", oidc.userinfo, methods=["GET", "POST"], name="userinfo"),
        Route("/{code}/oidc/revoke", oidc.revoke, methods=["POST"], name="revoke"),
        Route("/{code}/oidc/introspect", oidc.introspect, methods=["POST"], name="introspect"),
        Route("/{code}/oidc/logout", oidc.end_session, methods=["GET", "POST"], name="end_session"),
        Route("/{code}/login", login.show, methods=["GET"], name="login"),
        Route("/{code}/login", login.submit, methods=["POST"]),
        Route("/{code}/password/change", password.show, methods=["GET"], name="password_change"),
        Route("/{code}/password/change", password.submit, methods=["POST"]),
        Route("/{code}/password/forgot", forgot.show, methods=["GET"], name="password_forgot"),
        Route("/{code}/password/forgot", forgot.submit, methods=["POST"]),
        Route("/{code}/students", students.page, methods=["GET"], name="students"),
        Route("/{code}/students/reset", students.reset, methods=["POST"]),
        Route("/{code}/logout", account.logout_page, methods=["GET"], name="logout"),
        Route("/{code}/admin", admin_dashboard.dashboard, name="admin"),
        Route("/{code}/admin/users", admin_users.index, name="admin_users"),
        Route("/{code}/admin/users/new", admin_users.new, methods=["GET"]),
        Route("/{code}/admin/users/new", admin_users.create, methods=["POST"]),
        Route("/{code}/admin/users/{login}", admin_users.show, methods=["GET"]),
        Route("/{code}/admin/users/{login}", admin_users.update, methods=["POST"]),
        Route("/{code}/admin/users/{login}/edit", admin_users.edit, methods=["GET"]),
        Route("/{code}/admin/users/{login}/{action}", admin_users.action, methods=["POST"]),
        Route("/{code}/admin/clients", admin_clients.index, name="admin_clients"),
        Route("/{code}/admin/clients/new", admin_clients.new, methods=["GET"]),
        Route("/{code}/admin/clients/new", admin_clients.create, methods=["POST"]),
        Route("/{code}/admin/clients/{client_id}", admin_clients.show, methods=["GET"]),
        Route("/{code}/admin/clients/{client_id}", admin_clients.update, methods=["POST"]),
        Route("/{code}/admin/clients/{client_id}/edit", admin_clients.edit, methods=["GET"]),
        Route("/{code}/admin/clients/{client_id}/{action}", admin_clients.action, methods=["POST"]),
        Route("/{code}/admin/sessions", admin_activity.sessions_page, methods=["GET"]),
        Route("/{code}/admin/sessions/end", admin_activity.end, methods=["POST"]),
        Route("/{code}/admin/audit", admin_activity.audit_page, methods=["GET"]),
        Route("/{code}/admin/audit.csv", admin_activity.audit_csv, methods=["GET"]),
        Route("/{code}/admin/import", admin_imports.upload_page, methods=["GET"]),
        Route("/{code}/admin/import", admin_imports.preview, methods=["POST"]),
        Route("/{code}/admin/import/confirm", admin_imports.confirm, methods=["POST"]),
        Route("/{code}/admin/import/created.csv", admin_imports.download, methods=["GET"]),
        Route("/{code}/logout", account.logout, methods=["POST"]),
    ]
