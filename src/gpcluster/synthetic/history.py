"""Quarterly history of the synthetic practices: list growth and decline, openings, closures, mergers,
cluster moves and cluster renames. Events are drawn in time order against the state at that quarter, so
clusters always keep 3..12 practices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.synthetic.practices import assign_identity

# Expected events per quarter (rounded to whole counts over the run, at least one of each kind).
EVENT_RATES = {"closed": 0.5, "merged": 0.4, "opened": 0.3, "moved_cluster": 0.25, "cluster_renamed": 0.06}
EVENT_ORDER = tuple(EVENT_RATES)
MIN_CLUSTER, MAX_CLUSTER = 3, 12


@dataclass(frozen=True)
class Event:
    """Something that happened at a release. For a merger `practice_code` is the practice that was
    absorbed and `detail` the surviving code; for a rename `practice_code` is empty."""

    release: date
    kind: str
    practice_code: str
    detail: str


@dataclass
class History:
    """Everything that varies by quarter. Arrays are (practice, quarter) or (cluster, quarter)."""

    releases: list[date]
    practices: pd.DataFrame
    clusters: pd.DataFrame
    cluster_names: np.ndarray
    active: np.ndarray
    cluster_of: np.ndarray
    list_size: np.ndarray
    events: list[Event] = field(default_factory=list)


def quarter_starts(start: str, quarters: int) -> list[date]:
    """First days of `quarters` consecutive quarters from `start` (which must be a quarter start)."""
    try:
        first = date.fromisoformat(start)
    except ValueError as exc:
        raise UserError(f"start must be a date like 2016-04-01, got {start!r}") from exc
    if first.day != 1 or first.month not in (1, 4, 7, 10):
        raise UserError(f"start must be the first day of a quarter (Jan, Apr, Jul or Oct), got {start}")
    if quarters < 1:
        raise UserError(f"quarters must be at least 1, got {quarters}")
    months = first.year * 12 + first.month - 1 + 3 * np.arange(quarters)
    return [date(int(m // 12), int(m % 12 + 1), 1) for m in months]


def _schedule(rng: np.random.Generator, quarters: int) -> list[tuple[int, str]]:
    if quarters < 3:
        return []
    plan = []
    for kind, rate in EVENT_RATES.items():
        count = max(1, round(rate * (quarters - 1)))
        plan += [(int(q), kind) for q in rng.integers(1, quarters, size=count)]
    return sorted(plan, key=lambda e: (e[0], EVENT_ORDER.index(e[1])))


def _renamed(name: str) -> str:
    """A new name in another real style: 'X Cluster' <-> 'X and District', 'Dundee 3' -> 'Dundee 3 Locality'."""
    if name.endswith(" Cluster"):
        return name.removesuffix(" Cluster") + " and District"
    if name.endswith(" and District"):
        return name.removesuffix(" and District") + " Cluster"
    return name + " Locality" if name[-1].isdigit() else name + " Cluster"


class _Simulator:
    def __init__(self, rng, practices, clusters, dz, releases, n_new):
        self.rng, self.dz, self.releases = rng, dz, releases
        self.quarters = len(releases)
        p0 = len(practices)
        self.capacity = p0 + n_new
        t = np.arange(self.quarters)
        growth = rng.normal(0.005, 0.012, size=p0)
        wander = np.cumsum(rng.normal(0.0, 0.004, size=(p0, self.quarters)), axis=1)
        self.lists = np.zeros((self.capacity, self.quarters))
        self.lists[:p0] = practices["list0"].to_numpy()[:, None] * np.exp(growth[:, None] * t / 4 + wander)
        self.active = np.zeros((self.capacity, self.quarters), dtype=bool)
        self.active[:p0] = True
        self.cluster_of = np.zeros((self.capacity, self.quarters), dtype=np.int64)
        self.cluster_of[:p0] = practices["cluster"].to_numpy()[:, None]
        self.names = np.array([[n] * self.quarters for n in clusters["name"]], dtype=object)
        self.practices = practices.reset_index(drop=True)
        self.clusters = clusters
        self.involved: set[int] = set()
        self.raw_events: list[tuple[int, str, int, str]] = []  # quarter, kind, practice index, detail
        self.n = p0

    def sizes(self, q: int) -> np.ndarray:
        live = self.active[: self.n, q]
        return np.bincount(self.cluster_of[: self.n, q][live], minlength=len(self.clusters))

    def free(self, q: int) -> np.ndarray:
        idx = np.flatnonzero(self.active[: self.n, q])
        return np.array([i for i in idx if i not in self.involved], dtype=np.int64)

    def close(self, q: int) -> None:
        sizes = self.sizes(q)
        cands = [i for i in self.free(q) if sizes[self.cluster_of[i, q]] > MIN_CLUSTER + 1]
        if not cands:
            return
        weight = 1 / self.lists[cands, q] ** 1.5  # small practices close far more often
        p = int(self.rng.choice(cands, p=weight / weight.sum()))
        c = self.cluster_of[p, q]
        heirs = [i for i in np.flatnonzero(self.active[: self.n, q] & (self.cluster_of[: self.n, q] == c)) if i != p]
        share = self.lists[heirs, q] / self.lists[heirs, q].sum()
        self.lists[heirs, q:] += 0.9 * share[:, None] * self.lists[p, q:][None, :]
        self.active[p, q:] = False
        self.involved.add(p)
        self.raw_events.append((q, "closed", p, ""))

    def merge(self, q: int) -> None:
        sizes = self.sizes(q)
        free = self.free(q)
        by_cluster = pd.Series(free).groupby(self.cluster_of[free, q]).apply(list)
        options = [c for c, members in by_cluster.items() if len(members) >= 2 and sizes[c] > MIN_CLUSTER + 1]
        if not options:
            return
        c = options[self.rng.integers(len(options))]
        a, b = self.rng.choice(by_cluster[c], size=2, replace=False)
        keep, gone = (a, b) if self.lists[a, q] >= self.lists[b, q] else (b, a)
        self.lists[keep, q:] += self.lists[gone, q:]
        self.active[gone, q:] = False
        self.involved.update((int(keep), int(gone)))
        self.raw_events.append((q, "merged", int(gone), str(int(keep))))

    def open(self, q: int) -> None:
        sizes = self.sizes(q)
        options = np.flatnonzero((sizes > 0) & (sizes < MAX_CLUSTER - 1))
        c = int(self.rng.choice(options))
        members = np.flatnonzero(self.active[: self.n, q] & (self.cluster_of[: self.n, q] == c))
        sibling = self.practices.iloc[int(self.rng.choice(members))]
        zones = self.dz[(self.dz["HSCP"] == sibling["hscp"]) & (self.dz["ur8"] == sibling["ur8"])]
        zone = zones.iloc[int(self.rng.integers(len(zones)))]
        p = self.n
        self.n += 1
        row = {"hb": sibling["hb"], "hscp": sibling["hscp"], "data_zone": zone["DataZone"], "cluster": c,
               "list0": 0.0, "place": sibling["place"], "ur8": zone["ur8"], "rank": zone["rank"]}
        self.practices = pd.concat([self.practices, pd.DataFrame([row])], ignore_index=True)
        start = self.rng.uniform(600, 2000)
        ramp = np.minimum(1 + 0.1 * np.arange(self.quarters - q), 2.8)
        self.lists[p, q:] = start * ramp
        self.active[p, q:] = True
        self.cluster_of[p, :] = c
        self.involved.add(p)
        self.raw_events.append((q, "opened", p, ""))

    def move(self, q: int) -> None:
        sizes = self.sizes(q)
        hscp_of = self.clusters["hscp"].to_numpy()
        cands = []
        for i in self.free(q):
            c = self.cluster_of[i, q]
            if sizes[c] <= MIN_CLUSTER + 1:
                continue
            targets = np.flatnonzero((hscp_of == hscp_of[c]) & (sizes > 0) & (sizes < MAX_CLUSTER - 1))
            targets = targets[targets != c]
            if len(targets):
                cands.append((i, targets[np.argmin(np.abs(targets - c))]))
        if not cands:
            return
        p, target = cands[self.rng.integers(len(cands))]
        old = self.cluster_of[p, q]
        self.cluster_of[p, q:] = target
        self.involved.add(int(p))
        self.raw_events.append((q, "moved_cluster", int(p), f"{self.names[old, q]} -> {self.names[target, q]}"))

    def rename(self, q: int) -> None:
        renamed = {detail.split(" -> ")[1] for _, kind, _, detail in self.raw_events if kind == "cluster_renamed"}
        options = [c for c in np.flatnonzero(self.sizes(q) > 0) if self.names[c, q] not in renamed]
        c = int(self.rng.choice(options))
        old = self.names[c, q]
        self.names[c, q:] = _renamed(old)
        self.raw_events.append((q, "cluster_renamed", -1, f"{old} -> {self.names[c, q]}"))


def simulate(rng: np.random.Generator, practices: pd.DataFrame, clusters: pd.DataFrame, dz: pd.DataFrame,
             releases: list[date]) -> History:
    """Run the quarterly history and give every practice (including later openings) its identity."""
    zone = dz.set_index("DataZone")
    practices = practices.assign(ur8=zone.loc[practices["data_zone"], "ur8"].to_numpy(),
                                 rank=zone.loc[practices["data_zone"], "rank"].to_numpy())
    plan = _schedule(rng, len(releases))
    sim = _Simulator(rng, practices, clusters, dz, releases, sum(1 for _, k in plan if k == "opened"))
    actions = {"closed": sim.close, "merged": sim.merge, "opened": sim.open,
               "moved_cluster": sim.move, "cluster_renamed": sim.rename}
    for q, kind in plan:
        actions[kind](q)
    n = sim.n
    p0 = len(practices)
    identified = assign_identity(rng, sim.practices.iloc[:p0], {}, 0)
    if n > p0:
        serials = dict(identified.groupby("hb").size())
        identified = pd.concat([identified, assign_identity(rng, sim.practices.iloc[p0:], serials, p0)],
                               ignore_index=True)
    identified["code"] = identified["code"].astype(np.int64)
    active = sim.active[:n]
    lists = np.where(active, np.maximum(np.round(sim.lists[:n]), 30), 0).astype(np.int64)
    codes = identified["code"].astype(str).to_numpy()
    events = []
    for q, kind, p, detail in sim.raw_events:
        if kind == "merged":
            detail = codes[int(detail)]
        events.append(Event(releases[q], kind, codes[p] if p >= 0 else "", detail))
    return History(releases, identified, clusters, sim.names, active, sim.cluster_of[:n], lists, events)
