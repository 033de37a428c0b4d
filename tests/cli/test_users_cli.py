"""`gpcluster users ...` through the real Typer app, against the store in the test's own GPCLUSTER_HOME."""

from __future__ import annotations

import io
import sys

import pytest
from typer.testing import CliRunner

from gpcluster.cli import app, main
from gpcluster.store import audit, open_store
from gpcluster.store.accounts import InvalidCredentials, authenticate, find_user

runner = CliRunner()
PASSWORD = "correct horse battery"
CLUSTER_ARGS = ["--role", "cluster", "--scope-level", "cluster", "--scope-code", "S37000007/dundee-east"]


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["gpcluster", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def _add(username="alice", password=PASSWORD, args=CLUSTER_ARGS):
    return runner.invoke(app, ["users", "add", username, *args, "--password-stdin"], input=f"{password}\n")


def _sign_in(username, password):
    with open_store().session() as session:
        return authenticate(session, username, password, "127.0.0.1").username


def test_add_prompts_for_the_password_twice(monkeypatch):
    result = runner.invoke(app, ["users", "add", "Alice", *CLUSTER_ARGS, "--display-name", "Dr Alice Brown"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Added alice (cluster, cluster S37000007/dundee-east)" in result.output
    assert PASSWORD not in result.output
    assert _sign_in("alice", PASSWORD) == "alice"
    with open_store().session() as session:
        assert find_user(session, "alice").display_name == "Dr Alice Brown"


def test_add_asks_again_when_the_confirmation_differs():
    result = runner.invoke(app, ["users", "add", "alice", *CLUSTER_ARGS],
                           input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert _sign_in("alice", PASSWORD) == "alice"


def test_add_from_stdin_and_list():
    assert _add().exit_code == 0
    assert _add("nat", args=["--role", "national", "--scope-level", "scotland"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    alice = next(line for line in listed.output.splitlines() if "alice" in line)
    assert "cluster S37000007/dundee-east" in alice and "yes" in alice and "password" in alice
    assert "national" in next(line for line in listed.output.splitlines() if " nat " in line)


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "cluster", "--scope-level", "hscp", "--scope-code", "S37000007"], "cannot have scope level 'hscp'"),
    (["--role", "board", "--scope-level", "board", "--scope-code", "S08999999"], "not a Scottish health board code"),
    (["--role", "wizard", "--scope-level", "scotland"], "role 'wizard' is not one of"),
])
def test_bad_role_or_scope_is_an_error_message_not_a_traceback(monkeypatch, capsys, args, message):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PASSWORD}\n"))
    code, err = run_main(monkeypatch, capsys, "users", "add", "alice", *args, "--password-stdin")
    assert code == 2
    assert message in err and "Traceback" not in err
    with open_store().session() as session:
        assert find_user(session, "alice") is None


def test_short_password_and_duplicate_are_refused():
    short = _add(password="too short")
    assert "at least 12 characters" in str(short.exception)
    assert _add().exit_code == 0
    duplicate = _add("ALICE")
    assert "already taken" in str(duplicate.exception)


def test_disable_stops_sign_in_and_enable_restores_it():
    _add()
    result = runner.invoke(app, ["users", "disable", "Alice"])
    assert result.exit_code == 0, result.output
    with pytest.raises(InvalidCredentials):
        _sign_in("alice", PASSWORD)
    assert runner.invoke(app, ["users", "enable", "alice"]).exit_code == 0
    assert _sign_in("alice", PASSWORD) == "alice"


def test_disable_unknown_user_names_it():
    result = runner.invoke(app, ["users", "disable", "nobody"])
    assert "no user called 'nobody'" in str(result.exception)


def test_set_password_and_set_role():
    _add()
    result = runner.invoke(app, ["users", "set-password", "alice", "--password-stdin"], input="another good passphrase\n")
    assert result.exit_code == 0, result.output
    assert _sign_in("alice", "another good passphrase") == "alice"
    result = runner.invoke(app, ["users", "set-role", "alice", "--role", "hscp", "--scope-level", "hscp",
                                 "--scope-code", "S37000007"])
    assert result.exit_code == 0, result.output
    with open_store().session() as session:
        user = find_user(session, "alice")
        assert (user.role, user.scope_level, user.scope_code) == ("hscp", "hscp", "S37000007")


def test_audit_shows_account_changes_and_sign_ins_newest_first():
    _add()
    runner.invoke(app, ["users", "disable", "alice"])
    with pytest.raises(InvalidCredentials):
        _sign_in("alice", PASSWORD)
    result = runner.invoke(app, ["users", "audit", "--limit", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "alice" in line]
    assert len(rows) == 2
    assert "login_failed" in rows[0] and "disabled account" in rows[0]
    assert "user_changed" in rows[1] and "cli: disabled" in rows[1]
    with open_store().session() as session:
        assert [e.action for e in audit.recent(session, 10)] == ["login_failed", "user_changed", "user_added"]


def _guess(username="alice", ip="203.0.113.9", times=1):
    for _ in range(times):
        with pytest.raises(InvalidCredentials), open_store().session() as session:
            authenticate(session, username, "a wrong guess!!", ip)


def test_throttles_are_listed_and_cleared_by_username_or_address(monkeypatch, capsys):
    from gpcluster.store.accounts import LoginThrottled

    _add()
    _guess(times=5)
    listed = runner.invoke(app, ["users", "throttles"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "alice" in listed.output and "203.0.113.9" in listed.output
    assert "in 15 s" in listed.output or "in 14 s" in listed.output
    with pytest.raises(LoginThrottled):
        _sign_in("alice", PASSWORD)
    cleared = runner.invoke(app, ["users", "clear-throttle", "ALICE"])
    assert cleared.exit_code == 0 and "alice: 5 failed sign-in(s) forgotten" in cleared.output
    assert _sign_in("alice", PASSWORD) == "alice"
    _guess(times=2)
    assert "2 failed" in runner.invoke(app, ["users", "clear-throttle", "--address", "203.0.113.9"]).output
    assert "No failed sign-ins" in runner.invoke(app, ["users", "throttles"]).output
    code, err = run_main(monkeypatch, capsys, "users", "clear-throttle")
    assert code == 2 and "give a USERNAME or --address" in err
    with open_store().session() as session:
        assert [e.target for e in audit.recent(session, 5, action="throttle_cleared")] == ["203.0.113.9", "alice"]


def test_sign_out_ends_every_session_of_the_account():
    from gpcluster.store import sessions

    _add()
    with open_store().session() as session:
        user_id = find_user(session, "alice").id
        tokens = [sessions.start(session, user_id, None) for _ in range(2)]
    result = runner.invoke(app, ["users", "sign-out", "alice"])
    assert result.exit_code == 0 and "2 session(s) ended" in result.output
    with open_store().session() as session:
        assert [sessions.check(session, t) for t in tokens] == [None, None]
