"""A pack's content as one self-contained HTML file (inline CSS and SVG, no script, nothing fetched) and as
a PDF made from the same HTML by WeasyPrint (charts as images, A4 pages, one page per practice)."""

from __future__ import annotations

import functools
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from gpcluster.errors import UserError
from gpcluster.packs import charts
from gpcluster.packs.formatting import day, figure, percent_change, unit_note, whole

RESPONSE_WORDS = {"explained": "Explained", "accepted": "Accepted", "action_agreed": "Action agreed",
                  "not_relevant": "Not relevant"}
#: the context rows each practice's page names beside its list size, deprivation and location (in this order)
AGE_ROWS = {"aged_under_15": "under 15", "aged_15_64": "15 to 64", "aged_65_plus": "65 and over",
            "aged_75_plus": "75 and over"}


def _split_in_full(rows: list[dict], area_code: str, signals: list[dict]) -> tuple[list[dict], list[dict]]:
    """The rows the print edition gives in full (the area's figure is outside its expected range, or the
    indicator has a live signal of the area) and the others, each in the given order."""
    signalled = {s["indicator_id"] for s in signals if s["area_code"] == area_code and s["status"] != "resolved"}
    full = [r for r in rows if r["flag"] or r["indicator_id"] in signalled]
    return full, [r for r in rows if not (r["flag"] or r["indicator_id"] in signalled)]


def print_rows(practice: dict, signals: list[dict]) -> tuple[list[dict], list[dict]]:
    """The print edition of a practice's performance table: the rows the PDF gives in full (the indicator is
    outside its expected range, or has a live signal of this practice) and the others, which it lists
    compactly. The HTML pack keeps every row in full."""
    return _split_in_full(practice["rows"], practice["code"], signals)


def print_comparison(content: dict) -> tuple[list[dict], list[dict]]:
    """The print edition of the cluster's comparison with its HSCP, board and Scotland: the rows given in full
    (the cluster outside its expected range, or a live signal of the cluster, as on the practice pages) and
    the others, listed with the cluster's and Scotland's figures. The HTML pack keeps every row in full."""
    return _split_in_full(content["comparison"]["rows"], content["cluster"]["id"], content["signals"])


#: the context rows the PDF keeps side by side for every practice (who the practice serves: size, need, age,
#: deprivation, rurality, GPs); it gives the others for the cluster and Scotland only
PRINT_CONTEXT_ROWS = ("list_size", "need_weighted_list_size", "need_index", "aged_under_15", "aged_65_plus",
                      "aged_75_plus", "simd_rank_mean", "urban_rural_class", "gps_per_1000")


def print_context(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The print edition of the side-by-side context table: the PRINT_CONTEXT_ROWS for every practice, and
    the other rows (given with the cluster's and Scotland's figures), each in the content's order."""
    kept = [r for r in rows if r["indicator_id"] in PRINT_CONTEXT_ROWS]
    return kept, [r for r in rows if r["indicator_id"] not in PRINT_CONTEXT_ROWS]


def practice_ages(content: dict, index: int) -> list[tuple[str, str, dict]]:
    """The practice's age profile from the context rows: (words, indicator id, the practice's figure) in
    AGE_ROWS order, for the indicators the warehouse has."""
    rows = {r["indicator_id"]: r["practices"][index] for r in content["context"]["rows"]}
    return [(words, i, rows[i]) for i, words in AGE_ROWS.items() if i in rows]


@functools.cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("gpcluster.packs", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(figure=figure, whole=whole, day=day)
    env.globals.update(percent_change=percent_change, response_words=RESPONSE_WORDS, unit_note=unit_note,
                       print_rows=print_rows, print_context=print_context, print_comparison=print_comparison,
                       practice_ages=practice_ages)
    return env


@functools.cache
def _stylesheet() -> Markup:
    return Markup((files("gpcluster.packs") / "templates" / "pack.css").read_text(encoding="utf-8"))


class _Figures:
    """The template's `chart(spec, label)` and `trend(trend, label)`: an inline SVG figure, or for the PDF
    an image (with the cluster's line laid over a trend chart as a small SVG)."""

    def __init__(self, drawing: charts.Drawing, for_pdf: bool):
        self.drawing, self.for_pdf = drawing, for_pdf

    def __call__(self, spec: dict | None, label: str) -> Markup:
        if not spec:
            return Markup("")
        if self.for_pdf:
            return Markup('<figure class="chart"><img src="{}" alt="{}"></figure>').format(
                self.drawing.image(spec, label), label)
        return Markup('<figure class="chart">{}</figure>').format(self.drawing.svg(spec, label))

    def trend(self, content: dict, trend: dict, label: str) -> Markup:
        indicator = content["indicators"][trend["indicator_id"]]
        if self.for_pdf:
            url, line = self.drawing.trend_pdf(indicator, trend)
            return Markup('<figure class="chart trend"><img src="{}" alt="{}">{}</figure>').format(url, label, line)
        return Markup('<figure class="chart">{}</figure>').format(self.drawing.trend_svg(indicator, trend, label))


def render_html(content: dict, loop: dict, *, for_pdf: bool = False, drawing: charts.Drawing | None = None) -> str:
    """The pack as HTML. `loop` is the actions, responses and meeting part (gpcluster.packs.loop.snapshot)
    and the version being published. Pass the same `drawing` to render the HTML and the PDF of one pack, so
    each chart is drawn once."""
    template = _environment().get_template("pack.html")
    figures = _Figures(drawing or charts.Drawing(), for_pdf)
    indicators = content["indicators"]
    return template.render(c=content, state=loop, chart=figures, stylesheet=_stylesheet(), for_pdf=for_pdf,
                           trend=functools.partial(figures.trend, content), indicator=indicators.__getitem__,
                           cell=lambda value, i, suppressed=False: figure(value, indicators[i], suppressed))


def pdf_unavailable() -> str | None:
    """Why PDFs cannot be made here (WeasyPrint or the Pango libraries it loads are missing), or None."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (f"WeasyPrint cannot load ({first}); on Debian install its libraries with "
                "`apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0`")
    return None


class _ChartFetcher:
    """WeasyPrint's only source of resources for a pack: the pack's own chart images (chart:// addresses);
    anything else is refused, so a PDF never fetches a file or a network address."""

    def __new__(cls, images: dict[str, bytes]):
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class Fetcher(URLFetcher):
            def fetch(self, url, headers=None):
                if url not in images:
                    raise ValueError(f"a pack fetches nothing but its own charts, not {url[:80]!r}")
                return URLFetcherResponse(url, images[url], {"Content-Type": "image/jpeg"})

        return Fetcher(fail_on_errors=True)


#: WeasyPrint's image cache, kept across the packs a process renders: a trend chart's image is the same for
#: every cluster drawn on its template, so it is read once (its address is its template's hash)
_IMAGE_CACHE: dict = {}
_IMAGE_CACHE_LIMIT = 400


def render_pdf(content: dict, loop: dict, drawing: charts.Drawing | None = None) -> bytes:
    """The pack as a PDF (A4), from the HTML with charts as images."""
    reason = pdf_unavailable()
    if reason:
        raise UserError(reason)
    from weasyprint import HTML

    drawing = drawing or charts.Drawing()
    html = render_html(content, loop, for_pdf=True, drawing=drawing)
    if len(_IMAGE_CACHE) > _IMAGE_CACHE_LIMIT:
        _IMAGE_CACHE.clear()
    return HTML(string=html, url_fetcher=_ChartFetcher(drawing.images)).write_pdf(cache=_IMAGE_CACHE,
                                                                              font_config=_font_config())


@functools.cache
def _font_config():
    """One WeasyPrint font configuration per process, kept across the packs it renders: WeasyPrint otherwise
    loads Fontconfig's configuration and starts a new Pango font map (cold font caches) for every PDF. The
    packs declare no @font-face, so nothing of one pack's fonts can reach another's."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()
