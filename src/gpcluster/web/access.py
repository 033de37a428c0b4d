"""Who may do what, and which practices a viewer may see by name.

Role gives capabilities; scope (a node of the organisation tree) gives which practices are visible by
name. Everything outside the scope is shown only as aggregates or pseudonymised practices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROLES = ("national", "board", "hscp", "cluster", "practice", "analyst", "admin")
SCOPE_LEVELS = ("scotland", "board", "hscp", "cluster", "practice")

MANAGE_USERS = "manage_users"
VIEW_AUDIT = "view_audit"
USE_API = "use_api"
DOWNLOAD = "download"

_CAPABILITIES = {
    "admin": {MANAGE_USERS, VIEW_AUDIT, USE_API, DOWNLOAD},
    "analyst": {USE_API, DOWNLOAD},
    "national": {USE_API, DOWNLOAD},
    "board": {USE_API, DOWNLOAD},
    "hscp": {USE_API, DOWNLOAD},
    "cluster": {DOWNLOAD},
    "practice": {DOWNLOAD},
}


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as the web layer sees it."""

    user_id: int
    username: str
    display_name: str
    role: str
    scope_level: str
    scope_code: str | None
    #: for a practice-scoped viewer: their practice's cluster in each period (period -> cluster_id)
    own_cluster_by_period: dict = field(default_factory=dict, compare=False)

    def can(self, capability: str) -> bool:
        """True when the viewer's role grants `capability`."""
        return capability in _CAPABILITIES.get(self.role, set())

    @property
    def home_cluster(self) -> str | None:
        """The cluster a CQL or PQL works in (latest period for a PQL), else None."""
        if self.scope_level == "cluster":
            return self.scope_code
        if self.scope_level == "practice" and self.own_cluster_by_period:
            return self.own_cluster_by_period[max(self.own_cluster_by_period)]
        return None


def named_mask(viewer: Viewer, rows: pd.DataFrame) -> np.ndarray:
    """True for practice rows the viewer may see by name.

    `rows` needs period, cluster_id, hscp_code and board_code: membership in force in that row's period.
    """
    level, code = viewer.scope_level, viewer.scope_code
    if level == "scotland":
        return np.ones(len(rows), dtype=bool)
    if level == "board":
        return (rows["board_code"] == code).to_numpy(dtype=bool)
    if level == "hscp":
        return (rows["hscp_code"] == code).to_numpy(dtype=bool)
    if level == "cluster":
        return (rows["cluster_id"] == code).to_numpy(dtype=bool)
    if level == "practice":
        if not viewer.own_cluster_by_period:
            return (rows["area_code"] == code).to_numpy(dtype=bool)
        latest = viewer.own_cluster_by_period[max(viewer.own_cluster_by_period)]
        own = [viewer.own_cluster_by_period.get(p, latest) for p in rows["period"]]
        return (rows["cluster_id"].to_numpy(dtype=object) == np.array(own, dtype=object)) | (
            rows["area_code"] == code).to_numpy(dtype=bool)
    return np.zeros(len(rows), dtype=bool)


def may_name_cluster_members(viewer: Viewer, cluster_id: str, hscp_code: str, board_code: str) -> bool:
    """True when every practice currently in the cluster is within the viewer's named scope."""
    level, code = viewer.scope_level, viewer.scope_code
    return (level == "scotland" or (level == "board" and board_code == code)
            or (level == "hscp" and hscp_code == code) or (level == "cluster" and cluster_id == code)
            or (level == "practice" and viewer.home_cluster == cluster_id))
