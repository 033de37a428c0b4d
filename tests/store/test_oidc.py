"""Accounts for OpenID Connect sign-in: found by subject, created on first sign-in from the claims and the
`oidc_*` settings, inactive until an administrator enables them (unless configured otherwise)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gpcluster.store.accounts import InvalidCredentials, add_user, authenticate, find_or_create_oidc_user
from gpcluster.store.models import User
from gpcluster.store.scopes import InvalidAccount

CLAIMS = {"sub": "a1b2c3", "preferred_username": "Jane.Doe@nhs.scot", "name": "Dr Jane Doe"}


def test_first_sign_in_creates_an_inactive_account_with_the_default_role(store):
    with store.session() as session:
        user = find_or_create_oidc_user(session, "a1b2c3", CLAIMS)
    assert (user.username, user.display_name, user.oidc_subject) == ("jane.doe@nhs.scot", "Dr Jane Doe", "a1b2c3")
    assert (user.role, user.scope_level, user.scope_code) == ("national", "scotland", None)
    assert user.active is False
    assert user.password_hash is None
    assert user.last_login_at is not None


def test_later_sign_ins_find_the_same_account(store):
    with store.session() as session:
        first = find_or_create_oidc_user(session, "a1b2c3", CLAIMS)
    with store.session() as session:
        again = find_or_create_oidc_user(session, "a1b2c3", {**CLAIMS, "preferred_username": "renamed"})
        assert again.id == first.id
        assert session.scalar(select(User.username)) == "jane.doe@nhs.scot"
        assert len(session.scalars(select(User)).all()) == 1


def test_settings_give_role_scope_from_a_claim_and_activation(store, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_OIDC_DEFAULT_ROLE", "practice")
    monkeypatch.setenv("GPCLUSTER_OIDC_DEFAULT_SCOPE_LEVEL", "practice")
    monkeypatch.setenv("GPCLUSTER_OIDC_SCOPE_CLAIM", "practice_code")
    monkeypatch.setenv("GPCLUSTER_OIDC_ACTIVATE_NEW_USERS", "true")
    with store.session() as session:
        user = find_or_create_oidc_user(session, "x9", {"sub": "x9", "email": "gp@nhs.scot", "practice_code": "10002"})
    assert (user.username, user.role, user.scope_level, user.scope_code, user.active) == (
        "gp@nhs.scot", "practice", "practice", "10002", True)


def test_a_bad_scope_from_the_claims_is_refused(store, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_OIDC_DEFAULT_ROLE", "practice")
    monkeypatch.setenv("GPCLUSTER_OIDC_DEFAULT_SCOPE_LEVEL", "practice")
    monkeypatch.setenv("GPCLUSTER_OIDC_SCOPE_CLAIM", "practice_code")
    with pytest.raises(InvalidAccount, match="needs a scope code"), store.session() as session:
        find_or_create_oidc_user(session, "x9", {"sub": "x9"})


def test_never_attaches_to_an_existing_local_account_with_the_same_name(store, clock):
    with store.session() as session:
        local = add_user(session, "jane.doe@nhs.scot", "a long local password", "admin", "scotland", None)
    with store.session() as session:
        user = find_or_create_oidc_user(session, "a1b2c3", CLAIMS)
        assert user.id != local.id
        assert user.username.startswith("jane.doe@nhs.scot-")
        assert session.get(User, local.id).oidc_subject is None


def test_oidc_only_account_cannot_use_password_sign_in(store, clock):
    with store.session() as session:
        find_or_create_oidc_user(session, "a1b2c3", CLAIMS, activate=True)
    with pytest.raises(InvalidCredentials), store.session() as session:
        authenticate(session, "jane.doe@nhs.scot", "", None, now=clock())


def test_missing_subject_is_refused(store):
    with pytest.raises(InvalidAccount, match="no subject"), store.session() as session:
        find_or_create_oidc_user(session, "", {})
