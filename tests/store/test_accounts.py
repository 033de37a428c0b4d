"""Accounts: argon2 passwords, case-insensitive unique usernames, role/scope rules, sign-in and its audit."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gpcluster.store import audit
from gpcluster.store.accounts import (
    InvalidCredentials,
    add_user,
    authenticate,
    disable_user,
    enable_user,
    set_password,
    set_role,
)
from gpcluster.store.models import AuditEvent, User
from gpcluster.store.scopes import InvalidAccount

PASSWORD = "correct horse battery"
CLUSTER = "S37000007/dundee-east"  # Dundee City HSCP


def _add(store, username="alice", password=PASSWORD, role="cluster", level="cluster", code=CLUSTER, **kw):
    with store.session() as session:
        return add_user(session, username, password, role, level, code, **kw)


def test_password_is_stored_as_an_argon2id_hash_never_in_plain(store, real_hashing):
    _add(store)
    with store.session() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)  # argon2-cffi's own verifier accepts it
    assert not PasswordHasher().check_needs_rehash(stored)  # shipped with the recommended parameters


def test_sign_in_with_the_right_password_returns_the_user_and_is_audited(store, clock):
    _add(store, display_name="Dr Alice Brown")
    with store.session() as session:
        user = authenticate(session, "Alice", PASSWORD, "10.0.0.1", now=clock())
        assert (user.username, user.display_name, user.role, user.scope_code) == (
            "alice", "Dr Alice Brown", "cluster", CLUSTER)
        assert user.last_login_at == clock()
    with store.session() as session:
        [event] = audit.recent(session, 10, action="login")
        assert (event.username, event.ip, event.user_id) == ("alice", "10.0.0.1", user.id)


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password here"), ("nobody", PASSWORD)])
def test_wrong_password_or_unknown_user_is_refused_and_audited(store, clock, username, password):
    _add(store)
    with pytest.raises(InvalidCredentials), store.session() as session:
        authenticate(session, username, password, "10.0.0.2", now=clock())
    with store.session() as session:  # the failure survived the caller's rollback
        [event] = session.scalars(select(AuditEvent)).all()
    assert (event.action, event.target, event.ip) == ("login_failed", username, "10.0.0.2")


def test_hash_is_upgraded_on_sign_in_when_the_parameters_have_changed(store, clock, real_hashing):
    user = _add(store)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with store.session() as session:
        session.get(User, user.id).password_hash = weak
    with store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    with store.session() as session:
        upgraded = session.get(User, user.id).password_hash
    assert upgraded != weak
    assert not PasswordHasher().check_needs_rehash(upgraded)
    assert PasswordHasher().verify(upgraded, PASSWORD)


def test_hash_is_left_alone_when_current(store, clock):
    user = _add(store)
    with store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    with store.session() as session:
        assert session.get(User, user.id).password_hash == user.password_hash


@pytest.mark.parametrize("duplicate", ["alice", "ALICE", " Alice "])
def test_duplicate_username_is_refused_whatever_its_case(store, duplicate):
    _add(store, "Alice")
    with pytest.raises(InvalidAccount, match="already taken"):
        _add(store, duplicate)


def test_database_itself_refuses_a_case_variant_written_directly(store):
    _add(store, "alice")
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(User(username="ALICE", role="national", scope_level="scotland", active=True,
                         created_at=session.scalar(select(User.created_at))))
        session.flush()


# role, scope level, scope code as given -> scope code as stored
ACCEPTED = [
    ("national", "scotland", None, None),
    ("national", "scotland", "  ", None),
    ("board", "board", "S08000030", "S08000030"),
    ("board", "board", "s08000030", "S08000030"),
    ("hscp", "hscp", "S37000007", "S37000007"),
    ("cluster", "cluster", "S37000007/dundee-east", "S37000007/dundee-east"),
    ("cluster", "cluster", "s37000007/Dundee-East", "S37000007/dundee-east"),
    ("practice", "practice", " 10002 ", "10002"),
    ("analyst", "scotland", None, None),
    ("analyst", "hscp", "S37000030", "S37000030"),
    ("admin", "scotland", None, None),
]

# role, scope level, scope code -> the error it must give
REFUSED = [
    ("superuser", "scotland", None, "role 'superuser' is not one of"),
    ("national", "galaxy", None, "scope level 'galaxy' is not one of"),
    ("cluster", "hscp", "S37000007", "role 'cluster' cannot have scope level 'hscp'"),
    ("practice", "cluster", CLUSTER, "role 'practice' cannot have scope level 'cluster'"),
    ("national", "board", "S08000030", "role 'national' cannot have scope level 'board'"),
    ("admin", "practice", "10002", "role 'admin' cannot have scope level 'practice'"),
    ("national", "scotland", "S08000030", "takes no scope code"),
    ("board", "board", None, "needs a scope code"),
    ("board", "board", "S08000099", "not a Scottish health board code"),
    ("board", "board", "S37000007", "not a Scottish health board code"),
    ("hscp", "hscp", "S37000099", "not a Scottish HSCP code"),
    ("cluster", "cluster", "dundee-east", "not a cluster id"),
    ("cluster", "cluster", "S37000099/dundee-east", "not a cluster id"),
    ("cluster", "cluster", "S37000007/dundee east", "not a cluster id"),
    ("practice", "practice", "1002", "not a 5-digit practice code"),
    ("practice", "practice", "S37000007", "not a 5-digit practice code"),
]


@pytest.mark.parametrize(("role", "level", "code", "stored"), ACCEPTED)
def test_valid_role_and_scope_combinations_are_accepted(store, role, level, code, stored):
    user = _add(store, "someone", role=role, level=level, code=code)
    assert (user.role, user.scope_level, user.scope_code) == (role, level, stored)


@pytest.mark.parametrize(("role", "level", "code", "error"), REFUSED)
def test_invalid_role_and_scope_combinations_are_refused_with_a_clear_error(store, role, level, code, error):
    with pytest.raises(InvalidAccount, match=error):
        _add(store, "someone", role=role, level=level, code=code)
    with store.session() as session:
        assert session.scalars(select(User)).all() == []


@pytest.mark.parametrize(("username", "password", "error"), [
    ("alice", "short pass", "at least 12 characters"),
    ("alice", " " * 14, "only spaces"),
    ("alice", "alice-and-more", "must not contain the username"),
    ("alice", "x" * 1025, "at most 1024"),
    ("", PASSWORD, "username ''"),
    ("al ice", PASSWORD, "username 'al ice'"),
])
def test_weak_passwords_and_bad_usernames_are_refused(store, username, password, error):
    with pytest.raises(InvalidAccount, match=error):
        _add(store, username, password)


def test_twelve_characters_is_enough(store):
    assert _add(store, password="abcdefghijkl").username == "alice"


def test_set_password_replaces_the_old_one(store, clock):
    _add(store)
    with store.session() as session:
        set_password(session, "ALICE", "a brand new passphrase")
    with pytest.raises(InvalidCredentials), store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    with store.session() as session:
        assert authenticate(session, "alice", "a brand new passphrase", None, now=clock()).username == "alice"


def test_disabled_user_cannot_sign_in_until_enabled(store, clock):
    _add(store)
    with store.session() as session:
        disable_user(session, "alice")
    with pytest.raises(InvalidCredentials), store.session() as session:
        authenticate(session, "alice", PASSWORD, None, now=clock())
    with store.session() as session:
        [event] = audit.recent(session, 5, action="login_failed")
        assert event.detail == "disabled account"
        enable_user(session, "alice")
    with store.session() as session:
        assert authenticate(session, "alice", PASSWORD, None, now=clock()).active


def test_set_role_validates_like_a_new_account(store):
    _add(store)
    with store.session() as session:
        user = set_role(session, "alice", "hscp", "hscp", "s37000007")
        assert (user.role, user.scope_level, user.scope_code) == ("hscp", "hscp", "S37000007")
    with pytest.raises(InvalidAccount, match="cannot have scope level"), store.session() as session:
        set_role(session, "alice", "practice", "hscp", "S37000007")
    with store.session() as session:
        assert session.scalar(select(User.role)) == "hscp"


def test_user_without_password_cannot_sign_in_with_any_password(store, clock):
    _add(store, password=None)
    for guess in ("", PASSWORD):
        with pytest.raises(InvalidCredentials), store.session() as session:
            authenticate(session, "alice", guess, None, now=clock())
