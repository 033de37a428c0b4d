"""Settings, declared once with name, default and help.

Resolution order for each setting: environment variable, then the config file
(`$GPCLUSTER_CONFIG`, default `./gpcluster.toml`, table `[gpcluster]`), then the default.
Every setting is listed in `gpcluster settings` and must be documented in docs/settings.md.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gpcluster.errors import UserError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    kind: type = str

    @property
    def env_var(self) -> str:
        return "GPCLUSTER_" + self.name.upper()


SETTINGS: dict[str, Setting] = {}


def declare(name: str, default: Any, help: str, kind: type = str) -> Setting:
    setting = Setting(name, default, help, kind)
    SETTINGS[name] = setting
    return setting


declare("home", "var", "Folder for the warehouse, download cache and operational store.")
declare("warehouse", "", "DuckDB warehouse file. Empty means <home>/warehouse.duckdb.")
declare("cache_dir", "", "Download cache for `gpcluster sync`. Empty means <home>/cache.")
declare("store_url", "", "SQLAlchemy URL of the operational store. Empty means SQLite at <home>/store.db.")
declare("ckan_url", "https://www.opendata.nhs.scot", "Base URL of the PHS open data portal (CKAN).")
declare("http_timeout", 60.0, "Seconds before an HTTP request to the portal is abandoned.", float)
declare("http_retries", 4, "Attempts per HTTP request before `gpcluster sync` gives up.", int)
declare("synthetic_seed", 20180401, "Seed of the synthetic Scotland used by the demo.", int)
declare("disclosure_threshold", 5, "Counts at or below this are suppressed in every output.", int)
declare("suppress_zeros", False, "Also suppress zero counts.", bool)
declare("disclosure_min_group", 3, "Tables of groups of practices (by urban-rural class, deprivation) show no figure for a "
        "group of fewer practices than this: a group of one is a practice.", int)
declare("max_date_gap_days", 92, "Largest gap in days between the dates of a figure's numerator and denominator "
        "(e.g. a GP headcount snapshot and a list-size release) for them to be combined into one figure.", int)
declare("signals_shown", 5, "Signals listed as 'worth discussing' per cluster and quarter; the rest stay "
        "behind a filter.", int)
declare("secret_key", "", "Secret for signing sessions and CSRF tokens. Empty means a random per-process key.")
declare("host", "127.0.0.1", "Address `gpcluster serve` listens on.")
declare("port", 8000, "Port `gpcluster serve` listens on.", int)
declare("workers", 1, "Server processes for `gpcluster serve` (one per core suits a dedicated server).", int)
declare("web_cache_mb", 256, "Memory, in MB per server process, for released tables and rendered pages kept for "
        "reuse (per warehouse version and viewer scope); the least recently used go first.", int)
declare("web_prerender", True, "Have `gpcluster serve` render the pages and tables every national viewer shares once "
        "per warehouse version, in a low-priority process, and keep them on disk beside the version for every "
        "server process.", bool)
declare("oidc_issuer", "", "OpenID Connect issuer URL; empty disables OIDC sign-in.")
declare("oidc_client_id", "", "OpenID Connect client id.")
declare("oidc_client_secret", "", "OpenID Connect client secret (set it in the environment, never in a file).")
declare("cookie_secure", False, "Always mark cookies Secure. They are Secure anyway on requests that came over https, directly or through a trusted proxy.", bool)

declare("login_max_failures_per_user", 5, "Failed sign-ins per username (or per known browser) within the throttle window before each further attempt is delayed.", int)
declare("login_max_failures_per_ip", 20, "Failed sign-ins from one address within the throttle window before each further attempt from it is delayed.", int)
declare("login_throttle_window", 3600, "Seconds over which failed sign-ins are counted for throttling.", int)
declare("login_first_delay", 15.0, "Seconds the first delayed sign-in attempt waits; each further failure doubles it.", float)
declare("login_max_delay", 900.0, "Longest wait, in seconds, between sign-in attempts however many have failed.", float)
declare("session_idle_timeout", 1800, "Seconds without a request after which a sign-in session ends.", int)
declare("session_max_age", 28800, "Seconds after sign-in at which a session ends however active it is.", int)
declare("session_recheck_seconds", 5.0, "Seconds a server process trusts its cached copy of a session before checking the store again (how soon a sign-out or disable in another process takes effect).", float)
declare("trusted_proxies", "127.0.0.1", "Comma-separated addresses (or CIDR ranges, or *) of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto headers are believed.")
declare("oidc_default_role", "national", "Role given to a user on first OpenID Connect sign-in (review it before enabling the user).")
declare("oidc_default_scope_level", "scotland", "Scope level given to a user on first OpenID Connect sign-in.")
declare("oidc_default_scope_code", "", "Scope code given on first OpenID Connect sign-in; empty takes it from the claim named by oidc_scope_claim.")
declare("oidc_scope_claim", "", "ID-token claim holding the new user's scope code (e.g. a practice code); empty means none.")
declare("oidc_activate_new_users", False, "Activate users on first OpenID Connect sign-in; false leaves them for an administrator to enable.", bool)
declare("warehouse_versions_kept", 3, "Warehouse versions kept for `gpcluster data rollback` (the current one included, at least 2); older ones are deleted after each load.", int)
declare("warehouse_poll_seconds", 1.0, "How often the web app checks for a new warehouse version to switch to (seconds).", float)
declare("upload_max_rows", 50000, "Most rows a roster file may have (uploads and `gpcluster plan roster import`).", int)
declare("upload_max_unpacked_mb", 50.0, "Most megabytes an uploaded Excel workbook may unpack to (an .xlsx is a zip file).", float)
declare("job_workers", 1, "Worker processes for planner work taken off the request path (roster uploads, model comparisons).", int)
declare("job_timeout", 60.0, "Seconds a roster upload or model comparison may run before it is stopped.", float)
declare("jobs_per_user", 2, "Planner tasks one user may have running or queued at once in a server process; more get HTTP 429.", int)
declare("demo_prescribing_months", 6, "Months of synthetic prescribing (about 1.2 million rows each) the demo writes and loads; 0 for none.", int)
declare("spark_master", "local[*]", "Spark master URL for `gpcluster prescribing compute --engine spark` (local[*], spark://host:7077, yarn ...).")
declare("spark_shuffle_partitions", 8, "Spark shuffle partitions (raise for a real cluster and multi-year data).", int)
declare("spark_work_dir", "", "Folder the Spark engine exports warehouse tables to (shared storage on a cluster). Empty means the system temporary folder.")
declare("planner_db", "", "DuckDB file for the web planner's uploaded MDT roster. Empty means <home>/planner.duckdb.")
declare("packs_dir", "", "Folder of published cluster packs (immutable HTML and PDF files). Empty means <home>/packs.")
declare("public_url", "http://127.0.0.1:8000", "Address of the web app as users reach it, for links in e-mails and packs.")
declare("smtp_host", "", "SMTP server for e-mail notifications; empty means e-mail is not set up (`gpcluster pack notify` refuses).")
declare("smtp_port", 587, "SMTP server port (587 for STARTTLS, 465 for TLS from the start, 25 for none).", int)
declare("smtp_tls", "starttls", "SMTP encryption: starttls, tls (implicit, usually port 465) or none (only for a relay on the same host).")
declare("smtp_sender", "", "From address of notification e-mails, e.g. 'gpcluster <gpcluster@nhs.scot>'.")
declare("smtp_user", "", "SMTP user name; empty means the server needs no sign-in.")
declare("smtp_password", "", "SMTP password (set it in the environment, never in a file).")
declare("smtp_timeout", 30.0, "Seconds before an SMTP connection or command is abandoned.", float)
declare("meeting_reminder_days", 3, "Days before a planned cluster meeting when PQLs who have not responded to the pack are reminded.", int)
declare("actions_due_days", 7, "Days before an action's due date when its cluster's CQL and the practice's PQL are told it is due.", int)


def _parse(setting: Setting, raw: Any, origin: str) -> Any:
    if setting.kind is bool and isinstance(raw, str):
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise UserError(f"{origin}: {setting.name} must be true or false, got {raw!r}")
    try:
        return setting.kind(raw)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{origin}: {setting.name} must be {setting.kind.__name__}, got {raw!r}") from exc


@cache
def _file_values() -> dict[str, Any]:
    path = Path(os.environ.get("GPCLUSTER_CONFIG", "gpcluster.toml"))
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from exc
    values = data.get("gpcluster", {})
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise UserError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return values


def get(name: str) -> Any:
    """The current value of a setting."""
    setting = SETTINGS[name]
    if setting.env_var in os.environ:
        return _parse(setting, os.environ[setting.env_var], setting.env_var)
    file_values = _file_values()
    if name in file_values:
        return _parse(setting, file_values[name], "config file")
    return setting.default


def home() -> Path:
    return Path(get("home"))


def warehouse_path() -> Path:
    return Path(get("warehouse") or home() / "warehouse.duckdb")


def cache_dir() -> Path:
    return Path(get("cache_dir") or home() / "cache")


def store_url() -> str:
    return get("store_url") or f"sqlite:///{home() / 'store.db'}"


def packs_dir() -> Path:
    return Path(get("packs_dir") or home() / "packs")


def clear_cache() -> None:
    """Forget the config file's values (tests change GPCLUSTER_CONFIG)."""
    _file_values.cache_clear()
