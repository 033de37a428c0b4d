"""`gpcluster sync`: download current and past releases of the registered sources from the PHS portal into
a local cache, `<cache>/<resource_id>/<file name>`, with a manifest of checksums so runs are resumable and
complete files are never fetched twice."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.sources import SOURCES
from gpcluster.sources.base import Source
from gpcluster.sources.ckan import CkanClient, check_resource_id, file_sha256

MANIFEST = "manifest.json"


@dataclass
class SyncedFile:
    source: str
    resource_id: str
    path: Path
    sha256: str
    downloaded: bool  # False when the cached copy was already complete


@dataclass
class SyncReport:
    files: list[SyncedFile] = field(default_factory=list)

    @property
    def downloaded(self) -> list[SyncedFile]:
        return [f for f in self.files if f.downloaded]


def syncable_sources(names: Iterable[str] | None = None) -> list[Source]:
    """Registered sources with a CKAN dataset, optionally only those named."""
    chosen = [s for s in SOURCES.values() if s.dataset_id]
    if names:
        wanted = set(names)
        unknown = wanted - {s.name for s in chosen}
        if unknown:
            raise UserError(f"cannot sync {', '.join(sorted(unknown))}; syncable sources: "
                            f"{', '.join(s.name for s in chosen)}")
        chosen = [s for s in chosen if s.name in wanted]
    return chosen


def _resources(source: Source, package: dict[str, Any]) -> list[dict[str, Any]]:
    resources = package.get("resources") or []
    if source.all_resources:
        csvs = [r for r in resources if str(r.get("format", "")).upper() == "CSV"]
        if source.resource_name:
            csvs = [r for r in csvs if re.match(source.resource_name, str(r.get("name") or "").strip())]
        return csvs
    wanted = set(source.resource_ids.values())
    return [r for r in resources if r.get("id") in wanted]


def _file_name(resource: dict[str, Any]) -> str:
    name = Path(unquote(urlparse(resource.get("url") or "").path)).name
    if not name or name in {".", ".."}:
        name = f"{resource['id']}.csv"
    return name


def sync(names: Iterable[str] | None = None, *, client: CkanClient | None = None, cache: Path | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> SyncReport:
    """Fetch every resource of the chosen sources' datasets that is not already cached and complete."""
    progress = progress or (lambda *_: None)
    cache = Path(cache or config.cache_dir())
    cache.mkdir(parents=True, exist_ok=True)
    manifest_path = cache / MANIFEST
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    own_client = client is None
    client = client or CkanClient()
    report = SyncReport()
    try:
        plan: list[tuple[Source, dict[str, Any]]] = []
        for source in syncable_sources(names):
            package = client.package_show(source.dataset_id)
            plan.extend((source, r) for r in _resources(source, package))
        for i, (source, resource) in enumerate(plan):
            resource_id = check_resource_id(resource["id"])
            dest = cache / resource_id / _file_name(resource)
            progress(f"{source.name}: {dest.name}", i, len(plan))
            entry = manifest.get(resource_id)
            unchanged = entry and entry.get("last_modified") == resource.get("last_modified")
            if unchanged and dest.exists() and file_sha256(dest) == entry.get("sha256"):
                report.files.append(SyncedFile(source.name, resource_id, dest, entry["sha256"], False))
                continue
            if dest.exists():
                dest.unlink()  # the portal changed the resource: fetch it afresh
            digest = client.download(resource["url"], dest)
            manifest[resource_id] = {"source": source.name, "file": str(dest.relative_to(cache)), "sha256": digest,
                                     "url": resource["url"], "last_modified": resource.get("last_modified"),
                                     "name": resource.get("name")}
            manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            report.files.append(SyncedFile(source.name, resource_id, dest, digest, True))
        progress("Done", len(plan), len(plan))
    finally:
        if own_client:
            client.close()
    return report
