"""Every cluster's pack of a synthetic Scotland (the demo's generator, through the real loaders and engine),
HTML and PDF: no practice name or code from outside the cluster anywhere in either file, every section
present in order, pages that render, numbers for people, and nothing fetched or run when the HTML is read.

Built once for the module, in parallel over the cores: every cluster's pack (147), HTML and PDF. Every PDF's
text (pypdf) is searched as every HTML is; the pages of a few are rendered (pypdfium2). The PDFs cost about
2.7 s of processor time each and their text about 1 s, so this module takes some 5 minutes of the suite on
two idle cores (about 10 minutes of processor time). The PDF tests skip with
the reason when WeasyPrint cannot load its libraries (the HTML packs are then built alone)."""

from __future__ import annotations

import io
import re
from functools import partial

import pytest
from markupsafe import escape

from gpcluster.packs.render import pdf_unavailable

SEED, START, QUARTERS = 20180401, "2023-04-01", 7
SECTIONS = ["What changed since the last pack", "Worth discussing", "Actions due and their status", "Practices",
            "The cluster against", "Equity: deprivation and rurality", "Data quality",
            "Where the figures come from"]
PDF_REASON = pdf_unavailable()
FORMATS = ("html",) if PDF_REASON else ("html", "pdf")


def _no_loop(content, digest):
    from datetime import date

    from gpcluster.packs.loop import snapshot

    return snapshot(None, content, as_of=date(2024, 10, 1), content_hash=digest)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.synthetic import write_synthetic_scotland
    from gpcluster.warehouse import load_sourced, open_warehouse

    folder = tmp_path_factory.mktemp("demo-packs")
    written = write_synthetic_scotland(folder / "files", SEED, START, QUARTERS)
    path = folder / "warehouse.duckdb"
    load_sourced(written, synthetic=True, warehouse=path)
    with open_warehouse(path) as con:
        compute(con, load_catalogue())
        latest = con.execute("SELECT max(period) FROM indicator_value").fetchone()[0]
        members = con.execute("""SELECT p.practice_code, p.practice_name, pp.cluster_id FROM practice p
                                 JOIN practice_period pp ON pp.practice_code = p.practice_code
                                 WHERE pp.release_date = ?""", [latest]).fetchall()
        everyone = con.execute("SELECT practice_code, practice_name FROM practice").fetchall()
    return path, members, everyone


@pytest.fixture(scope="module")
def packs(world):
    from gpcluster.packs.build import build_many
    from gpcluster.web.data import WebData

    path, _, _ = world
    data = WebData(path)
    clusters = [c for c in data.clusters if c in {m[2] for m in world[1]}]
    data.close()
    return {b.cluster_id: b for b in build_many(path, None, clusters, FORMATS, partial(_no_loop))}


@pytest.fixture(scope="module")
def pdf_texts(packs):
    """Each cluster's PDF as text (pypdf, about a second of processor time a PDF: over the cores), whitespace
    made single spaces."""
    from concurrent.futures import ProcessPoolExecutor

    from gpcluster.packs.build import default_workers

    ids = list(packs)
    with ProcessPoolExecutor(max_workers=default_workers()) as pool:
        texts = pool.map(_pdf_text, [packs[c].pdf for c in ids], chunksize=8)
        return {cluster_id: re.sub(r"\s+", " ", text) for cluster_id, text in zip(ids, texts, strict=True)}


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _outsiders(world, cluster_id: str) -> list[str]:
    """Names and codes of practices not in the cluster in the pack's period (a name shared with one of the
    cluster's own practices is that practice's, not a leak)."""
    _, members, everyone = world
    inside = {code for code, _, cluster in members if cluster == cluster_id}
    inside_names = {name for code, name in everyone if code in inside}
    return [s for code, name in everyone if code not in inside for s in (code, name) if s not in inside_names]


def _own_names(world, cluster_id: str) -> list[str]:
    _, members, _ = world
    return [name for _, name, cluster in members if cluster == cluster_id]


def _outsiders_in(text: str, world, cluster_id: str) -> list[str]:
    """Outside practices' names and codes in the text once the cluster's own names are taken out (an own
    practice "Castle Douglas Surgery" contains the outsider "Douglas Surgery")."""
    for name in sorted(_own_names(world, cluster_id), key=len, reverse=True):
        for form in (str(escape(name)), name):
            text = text.replace(form, " # ")
    return _found_any(text, _outsiders(world, cluster_id))


def _found(text: str, needle: str) -> bool:
    return bool(_found_any(text, [needle]))


def _found_any(text: str, needles: list[str]) -> list[str]:
    """The needles that occur in the text as whole words (one pass: ~1,900 outsiders per pack)."""
    flat = re.sub(r"\s+", " ", text)
    alternatives = "|".join(re.escape(n) for n in sorted(set(needles), key=len, reverse=True))
    return re.findall(r"(?<![0-9A-Za-z])(?:" + alternatives + r")(?![0-9A-Za-z])", flat) if needles else []


def test_every_cluster_has_a_pack(world, packs):
    assert len(packs) >= 140  # the synthetic Scotland's clusters


def test_no_practice_from_outside_the_cluster_in_any_html_pack(world, packs):
    leaks = []
    for cluster_id, built in packs.items():
        leaks += [(cluster_id, needle) for needle in _outsiders_in(built.html, world, cluster_id)]
    assert leaks == []
    # and each pack does name its own practices (the check above can fail)
    _, members, _ = world
    for cluster_id, built in packs.items():
        own = [name for _, name, cluster in members if cluster == cluster_id]
        assert own and all(_found(built.html, str(escape(name))) or _found(built.html, name) for name in own)


@pytest.mark.skipif(PDF_REASON is not None, reason=f"PDF packs cannot be made here: {PDF_REASON}")
def test_no_practice_from_outside_the_cluster_in_any_pdf_pack(world, packs, pdf_texts):
    assert set(pdf_texts) == set(packs) and len(pdf_texts) >= 140  # every cluster's PDF, not a sample
    leaks = []
    for cluster_id, text in pdf_texts.items():
        assert "Worth discussing" in text  # the text layer is there to be searched
        leaks += [(cluster_id, n) for n in _outsiders_in(text, world, cluster_id)]
    assert leaks == []
    # and each PDF does name its own practices (the check above can fail)
    for cluster_id, text in pdf_texts.items():
        assert all(_found(text, name) for name in _own_names(world, cluster_id)), cluster_id


def test_every_section_is_there_in_order(packs):
    for built in packs.values():
        positions = [built.html.find(f">{title}") for title in SECTIONS]
        assert -1 not in positions and positions == sorted(positions), built.cluster_id


@pytest.mark.skipif(PDF_REASON is not None, reason=f"PDF packs cannot be made here: {PDF_REASON}")
def test_every_pdf_has_every_section_in_order(pdf_texts):
    for cluster_id, text in pdf_texts.items():
        positions = [text.find(title) for title in SECTIONS]
        assert -1 not in positions and positions == sorted(positions), cluster_id


@pytest.mark.skipif(PDF_REASON is not None, reason=f"PDF packs cannot be made here: {PDF_REASON}")
def test_pdf_pages_render(packs):
    import pypdfium2

    ordered = sorted(packs)
    for built in [packs[c] for c in ordered[:: max(1, len(ordered) // 3)][:3]]:
        document = pypdfium2.PdfDocument(built.pdf)
        assert len(document) >= 2 + len(built.content["practices"])  # one page per practice, at least
        for index in (0, len(document) - 1):
            image = document[index].render(scale=1).to_pil().convert("L")
            assert image.size[0] > 500
            dark = sum(image.histogram()[:128])
            assert dark > 500, f"page {index + 1} of {built.cluster_id} is blank"
        document.close()


def test_html_is_self_contained(packs):
    for built in packs.values():
        html = built.html
        assert "<script" not in html.lower() and "javascript:" not in html.lower()
        assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html, re.I)
        assert "@import" not in html and "url(http" not in html
        assert '<link rel="stylesheet"' not in html
    with_signals = [b for b in packs.values() if any(s["chart"] for s in b.content["signals"])]
    assert with_signals, "some cluster of the synthetic Scotland has a signal worth discussing"
    assert all("<svg" in b.html for b in packs.values())  # trend charts drawn inline


def test_numbers_are_for_people(packs):
    for built in packs.values():
        text = re.sub(r"<style>.*?</style>", "", built.html, flags=re.S)  # colours such as #003078
        text = re.sub(r'<(\w+) class="hash">[^<]*</\1>', "", text)  # SHA-256 digests are not figures
        text = re.sub(r"Warehouse version</dt><dd>\d+", "", text)  # a version number, '000001'
        text = re.sub(r"<svg.*?</svg>", "", text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        assert not re.search(r"\bnan\b|\bNaN\b|\binf\b|-0\.0\b", text), built.cluster_id
        assert not re.search(r"(?<![\d,.])\d{5,}(?:\.\d+)?(?![\d-])", re.sub(r"\b\d{5}\b", "", text)), built.cluster_id
        assert not re.search(r"(?<!τ = )\d\.\d{3,}", text), built.cluster_id  # no long decimals (τ has 2 s.f.)
