"""The operator's command line: `idp …` (README, "Operator CLI").

Output contract: results on standard output (the last line is the value a script wants),
notices on standard error. Any wrong input: one line on standard error and exit status 2,
with nothing changed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from idp import __version__, demo, logs, schema, slips
from idp.accounts import siecle
from idp.accounts.imports import parse
from idp.accounts.initial_passwords import InitialPasswords
from idp.accounts.roles import PERSON_ROLES, Role
from idp.errors import ConfigurationError, IdpError, InvalidInput
from idp.metrics import MULTIPROCESS_DIR
from idp.purge import purge
from idp.runtime import Runtime, build_runtime
from idp.services import accounts, clients, establishments, imports, incident, register
from idp.settings import Settings
from idp.store import audit
from idp.store import establishments as establishment_store

EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"idp: error: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Every error ends as one line on standard error; usage errors exit 2."""

    def main(self, args: Sequence[str] | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            return super().main(args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 1)
        except click.UsageError as exc:
            _fail(exc.format_message())
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except ConfigurationError as exc:
            _fail(exc.message)
        except IdpError as exc:
            _fail(exc.detail, EXIT_USAGE if exc.status_code < 500 else 1)
        except (OperationalError, ProgrammingError) as exc:
            if _is_missing_schema(exc):
                _fail("the database has no tables yet: run `idp db upgrade`", 1)
            _fail(f"database error: {type(exc.orig).__name__}: {str(exc.orig).splitlines()[0]}", 1)


def _is_missing_schema(exc: Exception) -> bool:
    text = str(exc).lower()
    return "no such table" in text or ("does not exist" in text and "relation" in text)


def _runtime(ctx: click.Context) -> Runtime:
    """Built on first use from the environment; tests may pass one in as `obj`."""
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = build_runtime(Settings.from_env())
        root.call_on_close(root.obj.close)
    return root.obj


T = TypeVar("T")


def _run(ctx: click.Context, use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a use case in the command's unit of work: committed if it returns, rolled back if
    it raises. Every command that touches the database goes through here."""
    return _runtime(ctx).run(use_case, *args, **kwargs)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.UsageError(f"invalid date {value!r}: expected YYYY-MM-DD") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="idp")
def cli() -> None:
    """CPRO Connect: the identity provider of CPRO éducation."""
    logs.configure(logging.WARNING)


def main() -> None:
    cli.main(prog_name="idp")


# -- serve ---------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Run the provider (applies migrations first on SQLite)."""
    import uvicorn

    settings = Settings.from_env()
    # The server's own level and format, for uvicorn's lines too (log_config=None: they
    # go through the root logger, not uvicorn's handlers).
    logs.configure(settings.log_level, settings.log_format, replace=True)
    _metrics_directory(workers)
    if settings.is_sqlite:
        rt = _runtime(ctx)
        schema.upgrade(rt.database.engine)
    uvicorn.run(
        "idp.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        server_header=False,
        # idp.web.request_context writes the line per request, with its id and route.
        access_log=False,
        log_config=None,
        log_level=settings.log_level.lower(),
        # SIGTERM: no new connections; requests in flight get this long to finish.
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


GRACEFUL_SECONDS = 30


def _metrics_directory(workers: int) -> None:
    """Several workers write their metrics to files that any of them adds up when scraped
    (prometheus-client's multiprocess mode): in PROMETHEUS_MULTIPROC_DIR if the operator set
    it (emptied first, before anything counts: the last run's files would count again),
    else, with more than one worker, in a new directory. Set before the workers start,
    which read it when they import prometheus-client."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        # prometheus-client's files only (never, say, a SQLite database kept there).
        for kind in ("counter", "gauge", "histogram", "summary"):
            for stale in path.glob(f"{kind}_*.db"):
                stale.unlink()
    elif workers > 1:
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="idp-metrics-")


# -- db ------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    rt = _runtime(ctx)
    schema.upgrade(rt.database.engine)
    click.echo(f"database at revision {schema.current(rt.database.engine)}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.pass_context
def db_revision(ctx: click.Context, message: str) -> None:
    """(Developers) write a migration for the difference between the models and the database."""
    rt = _runtime(ctx)
    schema.revision(rt.database.engine, message)


# -- demo ----------------------------------------------------------------------------------


@cli.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Create the demo establishment and its accounts (idempotent)."""
    rt = _runtime(ctx)
    credentials = _run(ctx, demo.seed)
    url = rt.settings.issuer(demo.CODE)
    click.echo(f"Demo establishment « {demo.NAME} »: {url}")
    for c in credentials:
        click.echo(f"  {c.role:<8} {c.login:<20} {c.password:<16} ({c.note})")
    pages = (
        ("sign-in page", "login"),
        ("account page", "establishment"),
        ("teachers' page", "students"),
        ("console (admin)", "admin"),
    )
    for label, name in pages:
        click.echo(f"  {label:<16} {rt.settings.base_url}{rt.urls.path(name, code=demo.CODE)}")
    env_file = _run(ctx, demo.register_modules)
    for module in demo.MODULES:
        click.echo(f"Demo module « {module.name} »: {module.base_url}")
    settings = rt.settings
    if settings.mail_backend == "console":
        where = "printed by the server, in its terminal"
    elif settings.mail_backend == "file":
        where = f"written as .eml files to {settings.mail_dir}"
    else:
        where = f"sent through {settings.smtp_host}:{settings.smtp_port}"
    click.echo(f"Emails (forgotten passwords, resets): {where} (IDP_MAIL_BACKEND)")
    if settings.database_url.startswith("sqlite:///"):
        click.echo(
            f"To start the demo over: stop the server, delete "
            f"{settings.database_url.removeprefix('sqlite:///')}, and `make run` again."
        )
    click.echo(f"(module settings written to {env_file})", err=True)


# -- establishments ------------------------------------------------------------------------


@cli.group()
def establishment() -> None:
    """Subscribing establishments."""


@establishment.command("create")
@click.argument("code")
@click.option("--name", required=True, help="Full name, shown above the login form.")
@click.option("--uai", "uai_code", required=True, help="UAI (RNE) code, e.g. 0750655E.")
@click.option(
    "--email", required=True, help="The establishment's address (receives the admin access)."
)
@click.pass_context
def establishment_create(
    ctx: click.Context, code: str, name: str, uai_code: str, email: str
) -> None:
    """Create an establishment and its admin account, and mail the access to EMAIL."""
    rt = _runtime(ctx)
    created = _run(ctx, establishments.create, code=code, name=name, uai_code=uai_code, email=email)
    click.echo(f"admin access sent to {created.establishment.email}", err=True)
    click.echo(f"{rt.settings.issuer(created.establishment.code)}")
    click.echo(created.admin_login)


@establishment.command("incident")
@click.argument("code")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    help="Only this role's accounts (default: every account of the establishment).",
)
@click.option(
    "--slips",
    "slips_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the PDF of sign-in slips with the new initial passwords (needed "
    "unless --role admin).",
)
@click.option("--confirm", help="The establishment's code typed again (asked for when absent).")
@click.pass_context
def establishment_incident(
    ctx: click.Context, code: str, role: str | None, slips_file: str | None, confirm: str | None
) -> None:
    """Credentials leaked: every password of CODE (or of --role) stops working, every session
    and token ends and the modules are told. Pupils and staff without an email get new
    initial passwords on the slips (--slips), staff with an email a temporary password by
    email, the admin account a new password at the establishment's address."""
    chosen = Role(role) if role else None
    slips_path = slips_file
    if chosen is not Role.ADMIN and not slips_path:
        _fail("--slips FILE is needed: the new initial passwords are printed there")
    count = _run(ctx, incident.affected_count, code, chosen)
    if confirm is None:
        confirm = click.prompt(
            f"{count} account(s) of {code} lose their password, sessions and tokens. "
            "Type the establishment's code to confirm",
            default="",
            show_default=False,
            err=True,
        )
    if confirm.strip() != code:
        _fail("not confirmed; nothing changed")

    def declare_and_print(rt: Runtime, session: Any) -> incident.Incident:
        done = incident.declare(rt, session, code, role=chosen)
        _write_slips(rt, session, code, done.handouts, slips_path)
        return done

    done = _run(ctx, declare_and_print)
    if done.handouts:
        click.echo(
            f"{len(done.handouts)} slip(s) with new initial passwords: {slips_path}", err=True
        )
    if done.admin_mailed_to:
        click.echo(f"admin password sent to {done.admin_mailed_to}", err=True)
    click.echo(_one_line(done.counts()))


def _write_slips(
    rt: Runtime, session: Any, code: str, handouts: list[slips.Handout], path: str | None
) -> None:
    """New initial passwords printed on slips into `path` (PDF). Called inside the change's
    unit of work, before it commits: a slip that cannot be written changes nothing. Readable
    by its owner only: it holds every new password."""
    if not handouts:
        return
    if path is None:
        # The establishment chose random initial passwords since the command checked.
        raise InvalidInput(
            "Cet établissement donne désormais des mots de passe initiaux aléatoires.",
            detail=f"{code} now gives random initial passwords: --slips FILE is needed to "
            "print the new accounts' ones; nothing imported",
        )
    establishment = establishments.get(session, code)
    sign_in = rt.urls.public("login", code=code)
    made = slips.for_handouts(establishment.name, sign_in, handouts)
    title = f"Fiches de connexion - {establishment.name}"
    with _private_file(path) as out:
        out.write(slips.pdf(made, slips.french_texts(), title))


@establishment.command("initial-passwords")
@click.argument("code")
@click.argument("choice", type=click.Choice(["birth-date", "random"]))
@click.pass_context
def establishment_initial_passwords(ctx: click.Context, code: str, choice: str) -> None:
    """What CODE's new accounts and resets get: the birth date (the help page's rule, the
    default) or random initial passwords printed on slips, valid
    IDP_PROVISIONAL_PASSWORD_DAYS. Accounts already made keep theirs."""
    chosen = InitialPasswords(choice.replace("-", "_"))
    _run(ctx, establishments.set_initial_passwords, code, chosen, actor=audit.OPERATOR)
    click.echo(f"{code}: new accounts and resets get {choice} initial passwords")


def _initial_passwords_of(rt: Runtime, session: Any, code: str) -> InitialPasswords:
    return establishments.get(session, code).initial_passwords


@establishment.command("list")
@click.pass_context
def establishment_list(ctx: click.Context) -> None:
    """Every establishment, with its state and number of accounts."""
    rt = _runtime(ctx)
    with rt.database.session() as session:
        rows = establishment_store.all_by_code(session)
        counts = establishment_store.user_counts(session)
        for e in rows:
            state = "enabled" if e.enabled else "disabled"
            click.echo(f"{e.code}\t{e.uai}\t{state}\t{counts.get(e.id, 0)} accounts\t{e.name}")


def _toggle(enabled: bool) -> click.Command:
    @click.argument("code")
    @click.pass_context
    def command(ctx: click.Context, code: str) -> None:
        _run(ctx, establishments.set_enabled, code, enabled)
        click.echo(f"{code}: {'enabled' if enabled else 'disabled'}")

    command.__doc__ = "Re-open the establishment." if enabled else "Suspend the establishment."
    return click.command("enable" if enabled else "disable")(command)


establishment.add_command(_toggle(True))
establishment.add_command(_toggle(False))


# -- users ---------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """Accounts of an establishment."""


@user.command("add")
@click.argument("code")
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--birth-date", required=True, help="YYYY-MM-DD; gives the initial password.")
@click.option("--role", required=True, type=click.Choice([r.value for r in PERSON_ROLES]))
@click.option("--email")
@click.option("--group", "groups", multiple=True, help="A class or group; repeat for several.")
@click.pass_context
def user_add(
    ctx: click.Context,
    code: str,
    first_name: str,
    last_name: str,
    birth_date: str,
    role: str,
    email: str | None,
    groups: tuple[str, ...],
) -> None:
    """Add an account on its initial (birth-date) password; prints the login."""
    created = _run(
        ctx,
        accounts.add,
        code,
        first_name=first_name,
        last_name=last_name,
        birth_date=_parse_date(birth_date),
        role=Role(role),
        email=email,
        groups=groups,
    )
    if created.password is None:
        click.echo(
            f"account created, initial password: the birth date ({created.user.role.value})",
            err=True,
        )
    else:
        days = _runtime(ctx).settings.provisional_password_days
        click.echo(
            f"account created, initial password (shown once, valid {days} days): "
            f"{created.password}",
            err=True,
        )
    click.echo(created.user.login)


@user.command("import")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--role",
    default="student",
    show_default=True,
    type=click.Choice([r.value for r in PERSON_ROLES]),
    help="For lines without a Rôle column.",
)
@click.option(
    "--skip-invalid", is_flag=True, help="Import the valid lines even if some are refused."
)
@click.option(
    "--deactivate-missing", is_flag=True, help="Deactivate accounts of --role not in the file."
)
@click.option(
    "--full",
    is_flag=True,
    help="The file holds everyone (of --role, for a CSV): deactivate the others, however many.",
)
@click.option("--created-csv", type=click.Path(dir_okay=False), help="Write the new logins here.")
@click.option(
    "--slips",
    "slips_file",
    type=click.Path(dir_okay=False),
    help="PDF of sign-in slips for the new accounts (required where the establishment gives "
    "random initial passwords: they are printed there only).",
)
@click.option("--dry-run", is_flag=True, help="Show what the import would do; write nothing.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one line {"created":n,"updated":n,"deactivated":n,"unchanged":n,"refused":n}.',
)
@click.pass_context
def user_import(
    ctx: click.Context,
    code: str,
    file: str,
    role: str,
    skip_invalid: bool,
    deactivate_missing: bool,
    full: bool,
    created_csv: str | None,
    slips_file: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import accounts from the SIECLE export « Élèves sans adresses » (the XML or its
    .zip, recognised from its content: pupils synchronised on their register identifiers,
    leavers deactivated) or from a school's CSV (Nom; Prénom; Date de naissance; Classe…).
    If a line is refused, nothing is imported (exit 2); for a CSV, --skip-invalid imports
    the valid lines."""
    rt = _runtime(ctx)
    with open(file, "rb") as handle:
        data = handle.read()
    random = _run(ctx, _initial_passwords_of, code) is InitialPasswords.RANDOM
    if random and not dry_run and not slips_file:
        _fail(
            f"{code} gives random initial passwords: --slips FILE is needed to print the new "
            "accounts' ones; nothing imported"
        )
    if siecle.looks_like_siecle(data):
        _siecle_import(
            ctx, code, file, data, dry_run=dry_run, as_json=as_json, full=full,
            slips_file=slips_file, random=random,
        )  # fmt: skip
        return
    deactivate_missing = deactivate_missing or full
    parsed = parse(data, default_role=Role(role), today=rt.clock.now().date())
    planned = _run(ctx, imports.plan, code, parsed)
    click.echo(
        f"{file}: {len(parsed.rows) + len(parsed.refused)} lines ({parsed.encoding}, "
        f"'{parsed.delimiter}'): {planned.to_create} to create, {planned.to_update} to update, "
        f"{len(parsed.refused)} refused",
        err=True,
    )
    for line, name, login in planned.shortened:
        click.echo(f"  line {line}: {name} gets the login {login} (cut to 20 characters)", err=True)
    for refused in parsed.refused:
        click.echo(f"  line {refused.line}: {refused.reason}", err=True)
    if parsed.refused and not skip_invalid:
        if as_json:
            refused = {"created": 0, "updated": 0, "deactivated": 0, "unchanged": 0}
            click.echo(_one_line({**refused, "refused": len(parsed.refused)}))
        _fail(f"{len(parsed.refused)} line(s) refused; nothing imported (use --skip-invalid)")
    options = {
        "skip_invalid": skip_invalid,
        "deactivate_missing_role": Role(role) if deactivate_missing else None,
    }
    if dry_run:
        report = _rolled_back(ctx, imports.apply, code, parsed, **options)
    else:
        # Hashed before the import's transaction begins: it holds SQLite's write lock.
        supply = accounts.Supply.ahead(rt, planned.to_create) if random else None

        def apply_and_print(rt: Runtime, session: Any, progress: Any) -> imports.Report:
            report = imports.apply(
                rt, session, code, parsed, progress=progress, supply=supply, **options
            )
            _write_slips(rt, session, code, report.handouts, slips_file)
            return report

        with click.progressbar(length=len(parsed.rows), label="importing", file=sys.stderr) as bar:
            report = _run(ctx, apply_and_print, bar.update)
        if created_csv:
            write_created_csv(created_csv, report.created)
        if report.handouts:
            click.echo(
                f"{len(report.handouts)} slip(s) with initial passwords: {slips_file}", err=True
            )
    if as_json:
        click.echo(_one_line(report.counts()))
        return
    click.echo(_human(report.counts(), dry_run))


def _private_file(path: str):  # type: ignore[no-untyped-def]
    """`path` opened for writing, created (or truncated) with mode 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
    return os.fdopen(descriptor, "wb")


def _one_line(counts: dict[str, int]) -> str:
    return json.dumps(counts, separators=(",", ":"))


class _Undone(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


def _rolled_back(ctx: click.Context, use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A use case run to the end in the command's unit of work, then rolled back: what it
    would do, with nothing written."""

    def run_then_undo(*inner: Any, **named: Any) -> T:
        raise _Undone(use_case(*inner, **named))

    try:
        _run(ctx, run_then_undo, *args, **kwargs)
    except _Undone as undone:
        return undone.result  # type: ignore[no-any-return]
    raise AssertionError("unreachable")


def _siecle_import(
    ctx: click.Context,
    code: str,
    file: str,
    data: bytes,
    *,
    dry_run: bool,
    as_json: bool,
    full: bool,
    slips_file: str | None,
    random: bool,
) -> None:
    def read_and_sync(
        rt: Runtime, session: Any, write: bool, supply: accounts.Supply | None = None
    ) -> register.Preview:
        establishment = establishments.get(session, code)
        export = siecle.read(data, uai=establishment.uai)
        preview = register.sync(
            rt, session, code, export, write=write, guard=not full, supply=supply
        )
        _write_slips(rt, session, code, preview.handouts, slips_file)
        return preview

    supply = None
    if random and not dry_run:
        # The new pupils' passwords, hashed before the import's transaction begins.
        ahead = _run(ctx, read_and_sync, False)
        supply = accounts.Supply.ahead(_runtime(ctx), ahead.to_create)
    preview = _run(ctx, read_and_sync, not dry_run, supply)
    click.echo(f"{file}: SIECLE export, {_one_line(preview.counts())}", err=True)
    for new in preview.created:
        klass = f" ({new.class_code})" if new.class_code else ""
        click.echo(f"  new: {new.login}: {new.first_name} {new.last_name}{klass}", err=True)
    for change in preview.updated:
        what = "; ".join(f"{label}: {before} -> {after}" for label, before, after in change.changes)
        click.echo(f"  changed: {change.login}: {what}", err=True)
    for leaver in preview.leavers:
        click.echo(f"  leaving: {leaver.login} ({leaver.reason})", err=True)
    for refused in preview.refused:
        who = f"ELEVE_ID {refused.eleve_id} {refused.name}".rstrip()
        click.echo(f"  refused: {who}: {refused.reason}", err=True)
    if preview.handouts:
        click.echo(
            f"{len(preview.handouts)} slip(s) with initial passwords: {slips_file}", err=True
        )
    click.echo(_one_line(preview.counts()) if as_json else _human(preview.counts(), dry_run))
    if preview.refused:
        _fail(f"{len(preview.refused)} pupil(s) refused; nothing imported")
    if preview.held and not dry_run:
        _fail(
            f"this export would deactivate {len(preview.leavers)} pupils; nothing imported. "
            "If it holds the whole establishment, import it again with --full"
        )


def _human(counts: dict[str, int], dry_run: bool) -> str:
    return ("would be " if dry_run else "") + ", ".join(f"{k}: {n}" for k, n in counts.items())


def write_created_csv(path: str, created: list[tuple[str, str, str, str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(imports.created_csv(created))


@user.command("set-password")
@click.argument("code")
@click.argument("login")
@click.option(
    "--password-stdin", is_flag=True, required=True, help="Read the password from standard input."
)
@click.option("--temporary", is_flag=True, help="Must be changed at the next sign-in.")
@click.pass_context
def user_set_password(
    ctx: click.Context, code: str, login: str, password_stdin: bool, temporary: bool
) -> None:
    """Set a password (for automation)."""
    if not password_stdin:
        raise click.UsageError("--password-stdin is required")
    password = sys.stdin.read()
    password = password.removesuffix("\n").removesuffix("\r")
    changed = _run(ctx, accounts.set_password, code, login, password, temporary=temporary)
    click.echo(f"password set for {changed.login}{' (temporary)' if temporary else ''}")


@user.command("reset-password")
@click.argument("code")
@click.argument("login")
@click.pass_context
def user_reset_password(ctx: click.Context, code: str, login: str) -> None:
    """Back to the initial (birth-date) password; the admin account gets a new one by email."""
    reset = _run(ctx, accounts.reset_password, code, login)
    if reset.mailed_to:
        click.echo(f"{reset.user.login}: new password sent to {reset.mailed_to}")
    elif reset.password is not None:
        days = _runtime(ctx).settings.provisional_password_days
        click.echo(
            f"{reset.user.login}: new initial password (shown once, valid {days} days): "
            f"{reset.password}"
        )
    else:
        click.echo(f"{reset.user.login}: back to the initial password (birth date)")


# -- clients -------------------------------------------------------------------------------


@cli.group()
def client() -> None:
    """Client applications (CPRO modules) of an establishment."""


@client.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--public", is_flag=True, help="No secret (native or browser app); PKCE required.")
@click.option("--third-party", is_flag=True, help="Show a consent screen.")
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
    help="Token endpoint authentication (default: client_secret_basic; none with --public).",
)
@click.option("--jwks-uri", help="private_key_jwt: where the module publishes its public keys.")
@click.option(
    "--jwks-file", type=click.Path(dir_okay=False), help="private_key_jwt: its JWKS file."
)
@click.option(
    "--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="One line of JSON on standard output.")
@click.pass_context
def client_add(
    ctx: click.Context,
    code: str,
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    public: bool,
    third_party: bool,
    auth_method: str | None,
    jwks_uri: str | None,
    jwks_file: str | None,
    id_token_alg: str,
    as_json: bool,
) -> None:
    """Register a module; prints client_id and, once, the secret."""
    jwks = None
    if jwks_file is not None:
        try:
            with open(jwks_file, encoding="utf-8") as handle:
                jwks = json.load(handle)
        except OSError as exc:
            raise click.UsageError(f"cannot read {jwks_file}: {exc.strerror}") from None
        except ValueError:
            raise click.UsageError(f"{jwks_file} is not JSON") from None
    rt = _runtime(ctx)
    created = _run(
        ctx,
        clients.add,
        code,
        name=name,
        redirect_uris_=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        public=public,
        third_party=third_party,
        auth_method=auth_method,
        jwks_uri=jwks_uri,
        jwks=jwks,
        id_token_alg=id_token_alg,
    )
    issuer = rt.settings.issuer(code.strip().lower())
    click.echo(f"discovery: {issuer}/.well-known/openid-configuration", err=True)
    if created.secret:
        click.echo("the secret is shown only now: store it in the module's configuration", err=True)
    if as_json:
        payload = {"client_id": created.client.client_id, "client_secret": created.secret}
        click.echo(json.dumps(payload, separators=(",", ":")))
        return
    click.echo(f"client_id: {created.client.client_id}")
    if created.secret:
        click.echo(f"client_secret: {created.secret}")


# -- keys and housekeeping -----------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Signing keys."""


@keys.command("rotate")
@click.argument("code", required=False)
@click.pass_context
def keys_rotate(ctx: click.Context, code: str | None) -> None:
    """New signing keys for CODE (or every establishment): published now, signing once the
    JWKS cache lifetime has passed; the old keys stay published until their tokens expire."""
    rt = _runtime(ctx)
    with rt.database.session() as session:
        targets = (
            [establishments.get(session, code)]
            if code
            else list(establishment_store.all_by_code(session))
        )
        for establishment in targets:
            kids = rt.keys.rotate(session, establishment)
            starts = rt.clock.now() + rt.keys.policy.jwks_cache
            click.echo(
                f"{establishment.code}: {', '.join(kids)} sign from {starts:%Y-%m-%d %H:%M} UTC"
            )


@cli.command("purge")
@click.pass_context
def purge_command(ctx: click.Context) -> None:
    """Delete expired codes, tokens, sessions, throttling counters, pending requests and
    keys, and audit events older than IDP_AUDIT_RETENTION_DAYS."""
    click.echo(str(purge(_runtime(ctx))))
