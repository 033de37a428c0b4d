"""Stable identifiers for GP clusters, which PHS publishes only as names.

A cluster is the set of practices sharing a normalised cluster name in a release (PHS's names are unique
nationally; a few clusters span two HSCPs). Its id, fixed at first sight, is '<home HSCP>/<slug>', the
home HSCP being the one holding most of its practices (then the larger list, then the lower code). A later
release keeps the id when the name is unchanged, and treats a new name as a rename of a cluster that
disappeared in that release when their practice sets overlap by more than half of each; otherwise the new
name is a new cluster. Placeholder names ("Lanarkshire Undefined") are not clusters: their practices get
no cluster id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

# PHS files a few special-service practices (tens of patients) under names such as
# "Lanarkshire Undefined": not GP clusters, and never treated as one.
_PLACEHOLDER = re.compile(r"\b(undefined|unallocated|unassigned)\b|^(no|not in a) cluster$", re.IGNORECASE)


def is_placeholder_cluster(name: str) -> bool:
    """True for the published names that mean 'not in a cluster' ('Forth Valley Undefined')."""
    return bool(_PLACEHOLDER.search(name.strip()))


def cluster_slug(name: str) -> str:
    """'Ayr & Prestwick Cluster' -> 'ayr-and-prestwick'; "Bo'ness, Grangemouth" -> 'boness-grangemouth'."""
    text = name.lower().replace("&", " and ").replace("'", "").replace("\u2019", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    if len(words) > 1 and words[-1] == "cluster":
        words = words[:-1]
    if len(words) > 1 and words[0] == "cluster":
        words = words[1:]
    return "-".join(words)


@dataclass
class ClusterIdentity:
    """The outcome of identifying clusters across all releases."""

    memberships: pd.DataFrame  # release_date, cluster_name (as published), cluster_id
    clusters: pd.DataFrame  # cluster_id, hscp_code, cluster_name (latest)
    name_history: pd.DataFrame  # cluster_id, cluster_name, first_release, last_release


@dataclass
class _State:
    slug_to_id: dict[str, str] = field(default_factory=dict)
    home: dict[str, str] = field(default_factory=dict)
    previous_members: dict[str, set[str]] = field(default_factory=dict)


def _home_hscps(rows: pd.DataFrame) -> dict[tuple, str]:
    """(release_date, slug) -> the HSCP with most of the cluster's practices, then larger list, lower code."""
    ranked = (rows.groupby(["release_date", "slug", "hscp_code"])
              .agg(practices=("practice_code", "size"), patients=("list_size", "sum")).reset_index()
              .sort_values(["practices", "patients", "hscp_code"], ascending=[False, False, True]))
    first = ranked.drop_duplicates(["release_date", "slug"])
    return dict(zip(zip(first["release_date"], first["slug"], strict=True), first["hscp_code"], strict=True))


def identify_clusters(rows: pd.DataFrame) -> ClusterIdentity:
    """Assign cluster ids. `rows`: release_date, practice_code, hscp_code, cluster_name, list_size."""
    rows = rows[rows["cluster_name"].notna() & (rows["cluster_name"].str.strip() != "")
                & ~rows["cluster_name"].map(is_placeholder_cluster)].copy()
    rows["slug"] = rows["cluster_name"].map(cluster_slug)
    state = _State()
    homes = _home_hscps(rows)
    assigned: list[pd.DataFrame] = []
    for release, current in rows.groupby("release_date", sort=True):
        members = {slug: set(g["practice_code"]) for slug, g in current.groupby("slug")}
        ids: dict[str, str] = {s: state.slug_to_id[s] for s in members if s in state.slug_to_id}
        vanished = {i: m for i, m in state.previous_members.items() if i not in ids.values()}
        new_slugs = sorted((s for s in members if s not in ids), key=lambda s: (-len(members[s]), s))
        for slug in new_slugs:
            renamed = _renamed_from(members[slug], vanished)
            if renamed is not None:
                ids[slug] = renamed
                del vanished[renamed]
            else:
                home = homes[(release, slug)]
                ids[slug] = _unique_id(f"{home}/{slug}", state)
                state.home[ids[slug]] = home
            state.slug_to_id[slug] = ids[slug]
        state.previous_members = {}
        for slug, practices in members.items():
            state.previous_members.setdefault(ids[slug], set()).update(practices)
        names = current[["release_date", "cluster_name", "slug"]].drop_duplicates()
        names["cluster_id"] = names["slug"].map(ids)
        assigned.append(names)
    columns = ["release_date", "cluster_name", "cluster_id"]
    if not assigned:
        empty = pd.DataFrame(columns=columns)
        return ClusterIdentity(empty, pd.DataFrame(columns=["cluster_id", "hscp_code", "cluster_name"]),
                               pd.DataFrame(columns=["cluster_id", "cluster_name", "first_release", "last_release"]))
    memberships = pd.concat(assigned, ignore_index=True)[columns]
    history = (memberships.groupby(["cluster_id", "cluster_name"])["release_date"].agg(["min", "max"])
               .reset_index().rename(columns={"min": "first_release", "max": "last_release"}))
    latest = history.sort_values(["last_release", "first_release", "cluster_name"]).groupby("cluster_id").tail(1)
    clusters = latest[["cluster_id", "cluster_name"]].copy()
    clusters["hscp_code"] = clusters["cluster_id"].map(state.home)
    return ClusterIdentity(memberships, clusters[["cluster_id", "hscp_code", "cluster_name"]], history)


def _renamed_from(practices: set[str], vanished: dict[str, set[str]]) -> str | None:
    best, best_overlap = None, 0
    for cluster_id, old in sorted(vanished.items()):
        overlap = len(practices & old)
        if overlap * 2 > len(old) and overlap * 2 > len(practices) and overlap > best_overlap:
            best, best_overlap = cluster_id, overlap
    return best


def _unique_id(candidate: str, state: _State) -> str:
    taken = set(state.slug_to_id.values())
    if candidate not in taken:
        return candidate
    n = 2
    while f"{candidate}-{n}" in taken:
        n += 1
    return f"{candidate}-{n}"

