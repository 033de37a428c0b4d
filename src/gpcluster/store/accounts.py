"""User accounts: creation with role/scope validation, argon2 passwords, sign-in with throttling and audit,
and accounts for OpenID Connect sign-in.

Functions take an open Session and leave committing to the caller (`Store.session()` commits on success),
except `authenticate`, which commits its failure records before raising so they survive the caller's
rollback."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gpcluster import config
from gpcluster.errors import GpclusterError, UserError
from gpcluster.store import audit, sessions, throttle
from gpcluster.store.models import User, utcnow
from gpcluster.store.scopes import InvalidAccount, check_role_scope

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; a cap stops megabyte "passwords" being used to load the CPU
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,149}$")
_EMAIL = re.compile(r"^[^@\s<>,;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

_hasher = PasswordHasher()


class InvalidCredentials(GpclusterError):
    """Unknown username, wrong password or disabled account (deliberately not told apart)."""

    def __init__(self) -> None:
        super().__init__("username or password not recognised")


class LoginThrottled(GpclusterError):
    """Too many recent failed sign-ins for this username or address."""

    def __init__(self, retry_after_seconds: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class UnknownUser(UserError):
    """No account has this username."""


def normalise_username(username: str) -> str:
    """The stored form of a username: trimmed and lower-case (usernames are case-insensitive)."""
    return username.strip().lower()


def _valid_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise InvalidAccount(
            f"username {username!r} must be 1-150 characters of letters, digits and . _ @ + - "
            "starting with a letter or digit")
    return name


def check_password_strength(password: str, username: str | None = None) -> None:
    """Raise InvalidAccount unless the password is long enough and not the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidAccount(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise InvalidAccount("password must not be only spaces")
    if username is not None and normalise_username(username) in password.lower():
        raise InvalidAccount("password must not contain the username")


def check_email(email: str | None) -> str | None:
    """A plausible address (one @, a dotted domain, no spaces or header characters), or None when empty."""
    text = (email or "").strip()
    if not text:
        return None
    if len(text) > 320 or not _EMAIL.match(text):
        raise InvalidAccount(f"e-mail address {text!r} does not look like name@example.org")
    return text


def hash_password(password: str) -> str:
    """An argon2id hash of the password with the current parameters."""
    return _hasher.hash(password)


def find_user(session: Session, username: str) -> User | None:
    """The account with this username (any case), or None."""
    return session.scalar(select(User).where(func.lower(User.username) == normalise_username(username)))


def get_user(session: Session, username: str) -> User:
    """The account with this username; UnknownUser if there is none."""
    user = find_user(session, username)
    if user is None:
        raise UnknownUser(f"no user called {normalise_username(username)!r}")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def add_user(session: Session, username: str, password: str | None, role: str, scope_level: str,
             scope_code: str | None, display_name: str | None = None, email: str | None = None) -> User:
    """Create a local account. Raises InvalidAccount for a bad username, password, role or scope, or a
    username already taken (in any case). `password=None` creates an account that cannot sign in locally."""
    name = _valid_username(username)
    code = check_role_scope(role, scope_level, scope_code)
    address = check_email(email)
    if password is not None:
        check_password_strength(password, name)
    if find_user(session, name) is not None:
        raise InvalidAccount(f"username {name!r} is already taken")
    user = User(username=name, display_name=(display_name or "").strip() or None, role=role,
                scope_level=scope_level, scope_code=code, active=True,
                password_hash=hash_password(password) if password is not None else None, created_at=utcnow(),
                email=address)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Replace an account's password (strength-checked); every session of the account ends."""
    user = get_user(session, username)
    check_password_strength(password, user.username)
    user.password_hash = hash_password(password)
    sessions.end_for_user(session, user.id)
    session.flush()
    return user


def set_email(session: Session, username: str, email: str | None) -> User:
    """Set (or with None/empty, remove) the address notifications go to."""
    user = get_user(session, username)
    user.email = check_email(email)
    session.flush()
    return user


def set_role(session: Session, username: str, role: str, scope_level: str, scope_code: str | None) -> User:
    """Change an account's role and scope (validated as for a new account)."""
    user = get_user(session, username)
    user.scope_code = check_role_scope(role, scope_level, scope_code)
    user.role, user.scope_level = role, scope_level
    session.flush()
    return user


def disable_user(session: Session, username: str) -> User:
    """Stop an account signing in and end its sessions; its history in the audit log is kept."""
    user = get_user(session, username)
    user.active = False
    sessions.end_for_user(session, user.id)
    session.flush()
    return user


def enable_user(session: Session, username: str) -> User:
    """Allow a disabled (or newly created OpenID Connect) account to sign in."""
    user = get_user(session, username)
    user.active = True
    session.flush()
    return user


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, used to spend the same time on unknown usernames")


def _password_matches(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        return _hasher.verify(stored or _dummy_hash(), password[:MAX_PASSWORD_LENGTH]) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str, ip: str | None,
                 now: datetime | None = None, device: str | None = None) -> User:
    """Check a password sign-in and return the account.

    Raises LoginThrottled (with seconds to wait) while recent failures delay attempts (see
    store.throttle: per known browser `device`, else per username and per address), and
    InvalidCredentials for an unknown user, wrong password or disabled account. Every outcome is written
    to the audit log. `device` is the browser's device id when it showed a valid device cookie for this
    username; `now` is for tests (an injected clock)."""
    now = now or utcnow()
    name = normalise_username(username)
    user = find_user(session, name)
    limits = throttle.ThrottleLimits.from_settings()
    throttle.forget_before(session, now - limits.window)  # older attempts no longer count; keeps the table small
    wait = throttle.retry_after(session, name, ip, now, limits, device=device)
    if wait is not None:
        audit.record(session, "login_throttled", user=user, target=name, detail=f"retry after {wait} s", ip=ip,
                     at=now)
        session.commit()
        raise LoginThrottled(wait)
    matches = _password_matches(user, password)
    if not matches or not user.active:
        reason = "disabled account" if matches else None
        throttle.note_attempt(session, name, ip, success=False, now=now, device=device)
        audit.record(session, "login_failed", user=user, target=name, detail=reason, ip=ip, at=now)
        session.commit()
        raise InvalidCredentials()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    throttle.note_attempt(session, name, ip, success=True, now=now, device=device)
    audit.record(session, "login", user=user, ip=ip, at=now)
    return user


def _oidc_username(session: Session, subject: str, claims: dict[str, Any]) -> str:
    for claim in ("preferred_username", "email", "sub"):
        candidate = normalise_username(str(claims.get(claim) or ""))
        candidate = re.sub(r"[^a-z0-9._@+-]", "-", candidate).lstrip("._@+-")[:130]
        if candidate:
            break
    else:
        candidate = "oidc"
    # Never attach an identity-provider login to an existing local account with the same name.
    if find_user(session, candidate) is None:
        return candidate
    return f"{candidate}-{hashlib.sha256(subject.encode()).hexdigest()[:10]}"


def find_or_create_oidc_user(session: Session, subject: str, claims: dict[str, Any],
                             default_role: str | None = None, default_scope_level: str | None = None,
                             default_scope_code: str | None = None, activate: bool | None = None) -> User:
    """The account linked to an OpenID Connect subject, created on first sign-in.

    A new account takes its role and scope from the arguments or, when omitted, the `oidc_default_*`
    settings (the scope code may come from the claim named by `oidc_scope_claim`), and is active only if
    `oidc_activate_new_users` (or `activate`) says so; otherwise an administrator enables it after review."""
    if not subject:
        raise InvalidAccount("OpenID Connect sign-in gave no subject ('sub' claim)")
    user = session.scalar(select(User).where(User.oidc_subject == subject))
    now = utcnow()
    if user is None:
        role = default_role or config.get("oidc_default_role")
        level = default_scope_level or config.get("oidc_default_scope_level")
        code = default_scope_code or config.get("oidc_default_scope_code") or None
        scope_claim = config.get("oidc_scope_claim")
        if code is None and scope_claim:
            code = claims.get(scope_claim) or None
        code = check_role_scope(role, level, code)
        user = User(username=_oidc_username(session, subject, claims),
                    display_name=str(claims.get("name") or "").strip() or None, role=role, scope_level=level,
                    scope_code=code, active=config.get("oidc_activate_new_users") if activate is None else activate,
                    password_hash=None, oidc_subject=subject, created_at=now)
        session.add(user)
    user.last_login_at = now
    session.flush()
    return user
