"""Publishing packs: numbered, immutable versions per cluster and period, registered in the store.

* A pack's **content hash** is the SHA-256 of its figures (gpcluster.packs.content.content_hash).
  Publishing again when the hash equals the newest version's changes nothing: no file, no row, no e-mail.
* A different hash (a corrected source file, a revised definition) makes version N+1, whose first section
  says what changed from version N (gpcluster.packs.changes). Responses belong to the cluster and period,
  so they carry over.
* Files are written into a new folder `<packs_dir>/<cluster>/<period>/v<N>/` (pack.html, pack.pdf,
  content.json), made read-only and moved into place in one rename, and only then registered; the web app
  serves only registered versions, so it never sees half a pack.
* One publisher at a time (a file lock in the packs folder, waited for, so cron runs queue); the warehouse
  is only read (its current version, which a load may replace meanwhile without disturbing the publisher),
  so the web app keeps serving throughout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.packs.build import BuiltPack, build_many, check_formats
from gpcluster.packs.formatting import period_key

LOCK_TIMEOUT = 3600.0  # seconds a publisher waits for another to finish
HTML_FILE, PDF_FILE, CONTENT_FILE = "pack.html", "pack.pdf", "content.json"


@dataclass(frozen=True)
class Published:
    cluster_id: str
    cluster_name: str
    period: date
    version: int | None  # None: unchanged
    content_hash: str
    changes: str
    folder: Path | None


def pack_folder(root: Path, cluster_id: str, period: date, version: int) -> Path:
    return root / cluster_id.replace("/", "-") / period_key(period) / f"v{version}"


def read_content(folder: Path) -> dict | None:
    try:
        return json.loads((folder / CONTENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def app_url(cluster_id: str, period: date, version: int | None = None) -> str:
    """Where the pack's page is in the web app (for links in the pack and in e-mails)."""
    from urllib.parse import quote

    base = str(config.get("public_url")).rstrip("/")
    tail = f"/v{version}" if version else ""
    return f"{base}/packs/{quote(cluster_id)}/{period_key(period)}{tail}"


# Loop parts, computed in the build workers ------------------------------------------------------------------

_STORES: dict = {}


def _store(url: str | None):
    """The store, opened once per worker process without migrating it: the process that started the
    workers has already brought it up to date (workers migrating at once would race)."""
    from gpcluster.store import Store, create_store_engine

    key = url or config.store_url()
    if key not in _STORES:
        _STORES[key] = Store(create_store_engine(key))
    return _STORES[key]


def draft_state(content: dict, digest: str, store_url: str | None = None, as_of: date | None = None) -> dict:
    """The loop part of a draft (unpublished) pack: actions as they are now."""
    from gpcluster.packs.loop import snapshot

    with _store(store_url).session() as session:
        return snapshot(session, content, as_of=as_of or date.today(), content_hash=digest)


def publish_state(content: dict, digest: str, store_url: str | None, root: str, as_of: date | None,
                  published_at: datetime, with_pdf: bool = False) -> dict:
    """The loop part of the version about to be published, or {'skip': True} when the newest published
    version has the same figures (and its PDF, when `with_pdf`: a version published without one is followed
    by one that adds it, saying so, since a published version never changes)."""
    from gpcluster.packs.changes import describe_changes
    from gpcluster.packs.loop import current_pack, snapshot

    cluster_id, period = content["cluster"]["id"], date.fromisoformat(content["period"])
    with _store(store_url).session() as session:
        newest = current_pack(session, cluster_id, period)
        same = newest is not None and newest.content_hash == digest
        if same and (newest.pdf_sha256 or not with_pdf):
            return {"skip": True, "version": newest.version}
        version = newest.version + 1 if newest is not None else 1
        correction = None
        if same:
            correction = {"replaces": newest.version, "changes": ["The PDF is added; no figure changed"]}
        elif newest is not None:
            before = read_content(Path(root) / newest.folder)
            lines = describe_changes(before, content) if before else ["the figures were rebuilt; the earlier "
                                                                      "version's content could not be read"]
            correction = {"replaces": newest.version, "changes": lines}
        return snapshot(session, content, as_of=as_of or published_at.date(), content_hash=digest,
                        version=version, published_at=published_at, correction=correction,
                        app_url=app_url(cluster_id, period, version))


# Publishing -------------------------------------------------------------------------------------------------

def _write_files(root: Path, built: BuiltPack, version: int) -> tuple[Path, str, str | None]:
    """The pack's files in a new read-only folder, moved into place in one rename."""
    final = pack_folder(root, built.cluster_id, built.period, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # left by a publisher that stopped before registering it: never published
        _remove_tree(final)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    html = built.html.encode("utf-8")
    (staging / HTML_FILE).write_bytes(html)
    if built.pdf is not None:
        (staging / PDF_FILE).write_bytes(built.pdf)
    text = json.dumps(built.content, sort_keys=True, ensure_ascii=False, allow_nan=False)
    (staging / CONTENT_FILE).write_text(text, encoding="utf-8")
    for file in staging.iterdir():
        file.chmod(0o444)
    staging.chmod(0o555)
    os.replace(staging, final)
    return final, hashlib.sha256(html).hexdigest(), hashlib.sha256(built.pdf).hexdigest() if built.pdf else None


def _remove_tree(folder: Path) -> None:
    folder.chmod(0o755)
    for file in folder.iterdir():
        file.chmod(0o644)
    shutil.rmtree(folder)


def _register(store, root: Path, built: BuiltPack, published_by: str, published_at: datetime) -> Published:
    from sqlalchemy.exc import IntegrityError

    from gpcluster import __version__
    from gpcluster.store import audit
    from gpcluster.store.models import Pack, PackPractice, PackSignal

    version = built.state["version"]
    folder, html_sha, pdf_sha = _write_files(root, built, version)
    correction = built.state.get("correction")
    changes = "; ".join(correction["changes"]) if correction else "first version"
    try:
        with store.session() as session:
            pack = Pack(cluster_id=built.cluster_id, cluster_name=built.cluster_name, period=built.period,
                        version=version, content_hash=built.content_hash, changes=changes[:20000],
                        published_at=published_at, published_by=published_by,
                        folder=str(folder.relative_to(root)), html_sha256=html_sha, pdf_sha256=pdf_sha,
                        warehouse_version=built.content["provenance"].get("warehouse_version"),
                        software_version=__version__)
            session.add(pack)
            session.flush()
            session.add_all([PackPractice(pack_id=pack.id, practice_code=p["code"], practice_name=p["name"])
                             for p in built.content["practices"]])
            session.add_all([PackSignal(pack_id=pack.id, signal_id=s["signal_id"], level=s["level"],
                                        area_code=s["area_code"], area_name=s["area_name"],
                                        indicator_id=s["indicator_id"], title=s["title"], sentence=s["sentence"],
                                        status=s["status"], worth_discussing=bool(s["worth_discussing"]),
                                        rank=s["rank_in_cluster"])
                             for s in built.content["signals"] if s["status"] != "resolved"])
            audit.record(session, "pack_published", target=f"{built.cluster_id} {period_key(built.period)} "
                                                            f"v{version}", detail=f"by {published_by}")
    except IntegrityError as exc:
        _remove_tree(folder)
        raise UserError(f"version {version} of the {built.cluster_id} pack for {period_key(built.period)} was "
                        "published by someone else meanwhile; run the publish again") from exc
    except BaseException:
        _remove_tree(folder)
        raise
    return Published(built.cluster_id, built.cluster_name, built.period, version, built.content_hash, changes,
                     folder)


def publish(cluster_ids: list[str] | None = None, period: date | None = None, *, formats=("html", "pdf"),
            published_by: str = "cli", as_of: date | None = None, workers: int | None = None,
            warehouse: Path | str | None = None, store=None, root: Path | None = None,
            on_done: Callable[[Published], None] | None = None, now: datetime | None = None) -> list[Published]:
    """Publish the packs of the given clusters (default: every cluster with practices) for a period (default:
    the warehouse's latest). Returns one entry per cluster: a new version, or version None when unchanged."""
    from filelock import FileLock, Timeout

    from gpcluster.packs.source import resolve_period
    from gpcluster.store import open_store
    from gpcluster.store.models import utcnow
    from gpcluster.warehouse.versions import current_file
    from gpcluster.web.data import WebData

    formats = check_formats(formats)
    if "html" not in formats:
        raise UserError("a published pack always has its HTML file; add --format html")
    root = Path(root) if root is not None else config.packs_dir()
    root.mkdir(parents=True, exist_ok=True)
    store = store if store is not None else open_store()
    target = current_file(warehouse) if warehouse is None or Path(warehouse).is_symlink() else Path(warehouse)
    if target is None or not Path(target).exists():
        raise UserError(f"no warehouse at {warehouse or config.warehouse_path()}: load data and compute indicators "
                        "first")
    lock = FileLock(str(root / ".publish.lock"))
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout as exc:
        raise UserError(f"another `gpcluster pack publish` has held {root / '.publish.lock'} for over "
                        f"{LOCK_TIMEOUT:.0f} s; is it stuck?") from exc
    try:
        data = WebData(target)
        try:
            period = resolve_period(data, period)
            known = set(data.clusters)
            if cluster_ids is None:
                cluster_ids = clusters_with_practices(data, period)
            missing = [c for c in cluster_ids if c not in known]
            if missing:
                raise UserError(f"no cluster {missing[0]!r} in the warehouse (see `gpcluster pack list --clusters`)")
        finally:
            data.close()
        published_at = now or utcnow()
        url = store.engine.url.render_as_string(hide_password=False)
        _STORES[url] = store  # a build in this process reads the caller's store; worker processes open their own
        state_for = partial(publish_state, store_url=url, root=str(root), as_of=as_of, published_at=published_at,
                            with_pdf="pdf" in formats)
        results: list[Published] = []

        def done(built: BuiltPack) -> None:
            if built.state.get("skip"):
                result = Published(built.cluster_id, built.cluster_name, built.period, None, built.content_hash,
                                   f"unchanged (version {built.state['version']})", None)
            else:
                result = _register(store, root, built, published_by, published_at)
            results.append(result)
            if on_done:
                on_done(result)

        try:
            build_many(target, period, cluster_ids, formats, state_for, workers=workers, on_done=done)
        finally:
            _STORES.pop(url, None)
        return results
    finally:
        lock.release()


def clusters_with_practices(data, period: date) -> list[str]:
    rows = data.query("SELECT DISTINCT cluster_id FROM indicator_value WHERE level = 'practice' AND period = ? "
                      "AND cluster_id IS NOT NULL", [period])
    present = set(rows["cluster_id"])
    return [c for c in data.clusters if c in present]
