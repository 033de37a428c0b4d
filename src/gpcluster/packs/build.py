"""Building packs: one cluster, or every cluster of a period in parallel over the cores.

Each worker process opens the warehouse version once (read-only) and reads the period's shared figures
once (gpcluster.packs.source), then builds the packs it is given: content, loop part, HTML and PDF. A
pack's charts are drawn once and used by both files.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gpcluster.errors import UserError

FORMATS = ("html", "pdf")


@dataclass
class BuiltPack:
    """A rendered pack: its content (figures), their hash, the loop part it was rendered with and the files."""

    cluster_id: str
    cluster_name: str
    period: date
    content: dict
    content_hash: str
    state: dict
    html: str | None = None
    pdf: bytes | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # processor time of this pack in its process (the figures' share read not counted)
    extra: dict = field(default_factory=dict)


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise UserError(f"pack format: choose from {', '.join(FORMATS)} (got {', '.join(unknown) or 'none'})")
    if "pdf" in chosen:
        from gpcluster.packs.render import pdf_unavailable

        reason = pdf_unavailable()
        if reason:
            raise UserError(f"cannot make PDF packs: {reason}")
    return chosen


def render_pack(source, cluster_id: str, formats: tuple[str, ...], state_for: Callable[[dict, str], dict]) -> BuiltPack:
    """Content, loop part and files of one cluster's pack from an open PackSource."""
    from gpcluster.packs.charts import Drawing
    from gpcluster.packs.content import build_content, content_hash
    from gpcluster.packs.render import render_html, render_pdf

    started, cpu = time.perf_counter(), time.process_time()
    content = build_content(source, cluster_id)
    digest = content_hash(content)
    state = state_for(content, digest)
    built = BuiltPack(cluster_id, content["cluster"]["name"], source.period, content, digest, state)
    if state.get("skip"):
        built.seconds, built.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        return built
    drawing = Drawing()
    if "html" in formats:
        built.html = render_html(content, state, drawing=drawing)
    if "pdf" in formats:
        built.pdf = render_pdf(content, state, drawing=drawing)
    built.seconds, built.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return built


# Worker processes -------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _start_worker(warehouse: str, period: date | None, settings: dict[str, str]) -> None:
    from gpcluster import config
    from gpcluster.packs.source import PackSource
    from gpcluster.web.data import WebData

    for name in [n for n in os.environ if n.startswith("GPCLUSTER_")]:
        del os.environ[name]
    os.environ.update(settings)
    config.clear_cache()
    data = WebData(warehouse)
    _WORKER["source"] = PackSource.open(data, period)
    _WORKER["startup_cpu"] = time.process_time()  # a worker process's whole life so far


def _work(cluster_id: str, formats: tuple[str, ...], state_for) -> BuiltPack:
    built = render_pack(_WORKER["source"], cluster_id, formats, state_for)
    # the first pack of a worker carries the worker's start-up (imports, the period's shared figures)
    built.extra["startup_cpu_seconds"] = _WORKER.pop("startup_cpu", 0.0)
    return built


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def build_many(warehouse: Path | str, period: date | None, cluster_ids: list[str], formats: tuple[str, ...],
               state_for: Callable[[dict, str], dict], workers: int | None = None,
               on_done: Callable[[BuiltPack], None] | None = None) -> list[BuiltPack]:
    """Build the packs of `cluster_ids` over `workers` processes (default: one per core). `state_for(content,
    hash)` gives each pack's loop part (it runs in the workers, so it must be picklable: a module-level
    function or a functools.partial of one). `on_done` is called in this process as each pack finishes."""
    workers = workers or default_workers()
    settings = {n: v for n, v in os.environ.items() if n.startswith("GPCLUSTER_")}
    target = os.path.realpath(warehouse)  # every worker reads the same version, even if a new one appears
    if workers == 1 or len(cluster_ids) == 1:
        began = time.process_time()
        _start_worker(target, period, settings)
        _WORKER["startup_cpu"] = time.process_time() - began
        out = []
        for cluster_id in cluster_ids:
            built = _work(cluster_id, formats, state_for)
            if on_done:
                on_done(built)
            out.append(built)
        return out
    context = multiprocessing.get_context("forkserver")
    out = []
    with ProcessPoolExecutor(max_workers=min(workers, len(cluster_ids)), mp_context=context,
                             initializer=_start_worker, initargs=(target, period, settings)) as pool:
        futures = {pool.submit(_work, c, formats, state_for): c for c in cluster_ids}
        for future in as_completed(futures):
            built = future.result()
            if on_done:
                on_done(built)
            out.append(built)
    order = {c: n for n, c in enumerate(cluster_ids)}
    return sorted(out, key=lambda b: order[b.cluster_id])
