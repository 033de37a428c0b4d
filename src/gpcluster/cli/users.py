"""`gpcluster users add | list | disable | enable | set-password | set-email | set-role | sign-out | throttles |
clear-throttle | audit`: local accounts, their sessions, sign-in throttles and the audit log in the operational
store. Thin: parse arguments, call gpcluster.store, print."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
users_app = typer.Typer(help="User accounts and the audit log (operational store).", no_args_is_help=True)

ROLE_HELP = "national, board, hscp, cluster, practice, analyst or admin."
LEVEL_HELP = "scotland, board, hscp, cluster or practice."
CODE_HELP = ("S08 board code, S37 HSCP code, cluster id ('S37000007/dundee-4') or 5-digit practice code; "
             "omit for scotland.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@users_app.command("add")
def add(
    username: str = typer.Argument(..., help="Sign-in name (case-insensitive)."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    scope_level: str = typer.Option(..., "--scope-level", help=LEVEL_HELP),
    scope_code: str = typer.Option("", "--scope-code", help=CODE_HELP),
    display_name: str = typer.Option("", "--display-name", help="Name shown in the app."),
    email: str = typer.Option("", "--email", help="Address for pack notifications (optional)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Add a local account. The password is prompted for (twice) unless --password-stdin is given."""
    from gpcluster.store import audit, open_store
    from gpcluster.store.accounts import add_user, check_email
    from gpcluster.store.scopes import check_role_scope

    check_role_scope(role, scope_level, scope_code)  # refuse a bad scope before asking for a password
    check_email(email)
    password = _read_password(password_stdin)
    with open_store().session() as session:
        user = add_user(session, username, password, role, scope_level, scope_code or None,
                        display_name=display_name or None, email=email or None)
        scope = " ".join(filter(None, [scope_level, user.scope_code]))
        audit.record(session, "user_added", target=user.username, detail=f"cli: {role}, {scope}")
        console.print(f"Added {escape(user.username)} ({role}, {escape(scope)}).")


@users_app.command("list")
def list_users() -> None:
    """List every account with its role, scope and last sign-in."""
    from gpcluster.store import open_store
    from gpcluster.store.accounts import list_users as all_users

    table = Table(title="Users")
    for column in ("username", "display name", "e-mail", "role", "scope", "active", "sign-in", "last sign-in"):
        table.add_column(column, overflow="fold")
    with open_store().session() as session:
        for u in all_users(session):
            scope = u.scope_level + (f" {u.scope_code}" if u.scope_code else "")
            table.add_row(escape(u.username), escape(u.display_name or ""), escape(u.email or ""), u.role, escape(scope),
                          "yes" if u.active else "no", "OIDC" if u.oidc_subject else "password",
                          _when(u.last_login_at))
    console.print(table)


def _change(username: str, change, detail: str) -> None:
    from gpcluster.store import audit, open_store

    with open_store().session() as session:
        user = change(session, username)
        audit.record(session, "user_changed", target=user.username, detail=f"cli: {detail}")
        console.print(f"{escape(user.username)}: {detail}.")


@users_app.command("disable")
def disable(username: str = typer.Argument(..., help="Account to disable.")) -> None:
    """Stop an account signing in and end its sessions (its audit history is kept)."""
    from gpcluster.store.accounts import disable_user

    _change(username, disable_user, "disabled")


@users_app.command("enable")
def enable(username: str = typer.Argument(..., help="Account to enable.")) -> None:
    """Allow a disabled or newly created OpenID Connect account to sign in."""
    from gpcluster.store.accounts import enable_user

    _change(username, enable_user, "enabled")


@users_app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="Account whose password to replace."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Replace an account's password."""
    from gpcluster.store import open_store
    from gpcluster.store.accounts import get_user
    from gpcluster.store.accounts import set_password as store_set_password

    with open_store().session() as session:
        get_user(session, username)  # an unknown name is reported before the password is asked for
    password = _read_password(password_stdin)
    _change(username, lambda session, name: store_set_password(session, name, password), "password changed")


@users_app.command("set-email")
def set_email(
    username: str = typer.Argument(..., help="Account to change."),
    email: str = typer.Argument("", help="Address for pack notifications; omit to remove it."),
) -> None:
    """Set or remove the address an account's pack notifications go to."""
    from gpcluster.store.accounts import set_email as store_set_email

    _change(username, lambda session, name: store_set_email(session, name, email or None),
            f"e-mail {email}" if email else "e-mail removed")


@users_app.command("set-role")
def set_role(
    username: str = typer.Argument(..., help="Account to change."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    scope_level: str = typer.Option(..., "--scope-level", help=LEVEL_HELP),
    scope_code: str = typer.Option("", "--scope-code", help=CODE_HELP),
) -> None:
    """Change an account's role and scope."""
    from gpcluster.store.accounts import set_role as store_set_role

    _change(username, lambda session, name: store_set_role(session, name, role, scope_level, scope_code or None),
            f"role {role}, scope {scope_level} {scope_code}".strip())


@users_app.command("sign-out")
def sign_out(username: str = typer.Argument(..., help="Account whose sessions to end.")) -> None:
    """End every session of an account (the web app notices within session_recheck_seconds)."""
    from gpcluster.store import audit, open_store, sessions
    from gpcluster.store.accounts import get_user

    with open_store().session() as session:
        user = get_user(session, username)
        ended = sessions.end_for_user(session, user.id)
        audit.record(session, "sessions_ended", target=user.username, detail=f"cli: {ended} sessions")
    console.print(f"{escape(user.username)}: {ended} session(s) ended.")


@users_app.command("throttles")
def throttles() -> None:
    """List sign-in throttles: failed sign-ins per address, per username and per known browser."""
    from gpcluster.store import open_store, throttle
    from gpcluster.store.models import utcnow

    table = Table(title="Sign-in throttles (failed sign-ins in the counting window)")
    for column in ("counted by", "who", "failures", "last failure", "next attempt"):
        table.add_column(column, overflow="fold")
    with open_store().session() as session:
        found = throttle.active(session, utcnow())
    for t in found:
        who = t.key if t.kind == "address" else t.username
        table.add_row(t.kind, escape(who or ""), str(t.failures), _when(t.last_failure),
                      f"in {t.retry_after_seconds} s" if t.retry_after_seconds else "now")
    console.print(table if found else "No failed sign-ins in the counting window.")


@users_app.command("clear-throttle")
def clear_throttle(
    username: str = typer.Argument("", help="Username whose failed sign-ins to forget (from every address)."),
    address: str = typer.Option("", "--address", help="Forget the failed sign-ins from this address instead."),
) -> None:
    """Let a throttled username or address sign in again at once."""
    from gpcluster.errors import UserError
    from gpcluster.store import audit, open_store, throttle
    from gpcluster.store.accounts import normalise_username

    name, ip = normalise_username(username) or None, address.strip() or None
    if (name is None) == (ip is None):
        raise UserError("give a USERNAME or --address, not both")
    with open_store().session() as session:
        cleared = throttle.clear(session, username=name, ip=ip)
        audit.record(session, "throttle_cleared", target=name or ip, detail=f"cli: {cleared} failed sign-ins forgotten")
    console.print(f"{escape(name or ip)}: {cleared} failed sign-in(s) forgotten.")


@users_app.command("audit")
def audit_log(
    limit: int = typer.Option(50, "--limit", min=1, help="How many of the newest events to show."),
    action: str = typer.Option("", "--action", help="Only this action (e.g. login_failed, export)."),
) -> None:
    """Show the newest audit events: sign-ins, views of practice-level data, exports, account changes."""
    from gpcluster.store import audit, open_store

    table = Table(title="Audit log (newest first)")
    for column in ("when", "user", "action", "target", "detail", "address"):
        table.add_column(column, overflow="fold")
    with open_store().session() as session:
        for e in audit.recent(session, limit, action=action or None):
            table.add_row(_when(e.at), escape(e.username or "-"), e.action, escape(e.target or ""),
                          escape(e.detail or ""), escape(e.ip or ""))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
