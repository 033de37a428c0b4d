"""Which role may hold which scope, and what a valid scope code looks like.

Codes are checked against the reference lists shipped with gpcluster (14 boards, 31 HSCPs), so a typo is
refused when the account is created rather than silently granting an empty or wrong scope."""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib import resources

from gpcluster.errors import UserError
from gpcluster.store.models import ROLES, SCOPE_LEVELS

# The scope levels each role may be given. Organisational roles are tied to their own level; analysts and
# administrators work nationally.
ALLOWED_SCOPES: dict[str, tuple[str, ...]] = {
    "national": ("scotland",),
    "board": ("board",),
    "hscp": ("hscp",),
    "cluster": ("cluster",),
    "practice": ("practice",),
    "analyst": ("scotland", "board", "hscp"),
    "admin": ("scotland",),
}
assert set(ALLOWED_SCOPES) == set(ROLES)

_PRACTICE_CODE = re.compile(r"^\d{5}$")
_CLUSTER_ID = re.compile(r"^(S37\d{6})/[a-z0-9]+(?:-[a-z0-9]+)*$")


class InvalidAccount(UserError):
    """An account's role, scope or password does not meet the rules."""


@cache
def _reference_codes(name: str, column: str) -> frozenset[str]:
    text = resources.files("gpcluster.sources").joinpath("reference", name).read_text(encoding="utf-8")
    return frozenset(row[column] for row in csv.DictReader(text.splitlines()))


def board_codes() -> frozenset[str]:
    return _reference_codes("boards.csv", "board_code")


def hscp_codes() -> frozenset[str]:
    return _reference_codes("hscps.csv", "hscp_code")


def check_role_scope(role: str, scope_level: str, scope_code: str | None) -> str | None:
    """Validate a role/scope combination and return the normalised scope code; raise InvalidAccount if wrong."""
    if role not in ROLES:
        raise InvalidAccount(f"role {role!r} is not one of: {', '.join(ROLES)}")
    if scope_level not in SCOPE_LEVELS:
        raise InvalidAccount(f"scope level {scope_level!r} is not one of: {', '.join(SCOPE_LEVELS)}")
    if scope_level not in ALLOWED_SCOPES[role]:
        allowed = ", ".join(ALLOWED_SCOPES[role])
        raise InvalidAccount(f"role {role!r} cannot have scope level {scope_level!r} (allowed: {allowed})")
    code = (scope_code or "").strip() or None
    if scope_level == "scotland":
        if code is not None:
            raise InvalidAccount(f"scope level 'scotland' takes no scope code, got {code!r}")
        return None
    if code is None:
        raise InvalidAccount(f"scope level {scope_level!r} needs a scope code")
    if scope_level == "board":
        code = code.upper()
        if code not in board_codes():
            raise InvalidAccount(f"board scope code {code!r} is not a Scottish health board code (S08...)")
    elif scope_level == "hscp":
        code = code.upper()
        if code not in hscp_codes():
            raise InvalidAccount(f"HSCP scope code {code!r} is not a Scottish HSCP code (S37...)")
    elif scope_level == "cluster":
        hscp, _, name = code.partition("/")
        code = f"{hscp.upper()}/{name.lower()}" if name else code
        match = _CLUSTER_ID.match(code)
        if not match or match.group(1) not in hscp_codes():
            raise InvalidAccount(
                f"cluster scope code {code!r} is not a cluster id of the form '<S37 HSCP code>/<name>', "
                "e.g. 'S37000007/dundee-4'")
    elif not _PRACTICE_CODE.match(code):
        raise InvalidAccount(f"practice scope code {code!r} is not a 5-digit practice code")
    return code
