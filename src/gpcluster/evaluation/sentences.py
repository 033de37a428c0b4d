"""Plain-language sentences for results: what changed, by how much, how sure we are, and whether that is
what was expected. Figures are rounded for people (no '-0%', no '15,133.0')."""

from __future__ import annotations

from gpcluster.evaluation.result import EvaluationResult
from gpcluster.stats.disclosure import round_half_up

COMPARED_WITH = {
    "its": "compared with what the trend before predicted",
    "did": "compared with matched practices that did not change",
    "staggered": "compared with areas that had not started",
    "synth": "compared with a synthetic control built from similar areas",
}
NOUNS = {"practice": "practice", "cluster": "cluster", "hscp": "HSCP", "board": "board"}


def percent(x: float, signed: bool = False) -> str:
    """0.0612 -> '6%'; below 10% in size one decimal place ('2.4%'); never '-0%'."""
    value = 100 * x
    digits = 1 if abs(value) < 10 else 0
    rounded = float(round_half_up(abs(value), digits)) * (1 if value >= 0 else -1)
    if rounded == 0:
        rounded = 0.0
    text = f"{abs(rounded):,.{digits}f}%".replace(".0%", "%")
    if signed:
        return ("+" if rounded > 0 else "-" if rounded < 0 else "") + text
    return text


def number(x: float) -> str:
    digits = 2 if abs(x) < 10 else 1 if abs(x) < 100 else 0
    rounded = float(round_half_up(abs(x), digits))
    text = f"{rounded:,.{digits}f}"
    return text if x >= 0 or rounded == 0 else f"-{text}"


def in_sentence(title: str) -> str:
    """An indicator title inside a sentence: 'Emergency admissions ...' -> 'emergency admissions ...', but
    'A&E attendances' and 'GP consultations' keep their capitals."""
    first = title.split(" ", 1)[0]
    if len(first) > 1 and (first[:2].isupper() or not first.isalpha()):
        return title
    return title[:1].lower() + title[1:]


def p_text(p: float) -> str:
    """A p-value for people: '< 0.001' below a thousandth, else three decimals below 0.01 and two above."""
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def quarters_text(n: int) -> str:
    return "the quarter" if n == 1 else ("the year" if n == 4 else ("the two years" if n == 8 else f"the {n} quarters"))


def where_text(result: EvaluationResult, level: str) -> str:
    noun = NOUNS.get(level, "unit")
    n = len(result.treated)
    return f"{n} {noun}{'' if n == 1 else 's'}"


def effect_sentence(result: EvaluationResult, level: str = "practice", what: str = "the change") -> str:
    """'GP consultations per 1,000 patients fell by 6% (95% CI 2% to 10%) in the two years after the
    change in 10 practices, compared with matched practices that did not change.'"""
    e = result.effect
    title = result.outcome.title
    when = f"in {quarters_text(result.post_quarters)} after {what}"
    if result.method == "staggered":
        when = f"in the first {result.post_quarters} quarters after each started"
    where = f"in {where_text(result, level)}"
    level_text = f"{e.level:.0%} CI"
    if e.scale == "log_ratio":
        est, lo, hi = e.relative
        if e.significant:
            verb = "fell" if est < 0 else "rose"
            a, b = sorted((abs(lo), abs(hi)))
            size = f"{verb} by {percent(abs(est))} ({level_text} {percent(a)} to {percent(b)})"
        else:
            size = (f"changed by {percent(est, signed=True)} ({level_text} {percent(lo, signed=True)} to "
                    f"{percent(hi, signed=True)})")
    else:
        unit = result.outcome.unit
        if e.significant:
            verb = "fell" if e.estimate < 0 else "rose"
            a, b = sorted((abs(e.lower), abs(e.upper)))
            size = f"{verb} by {number(abs(e.estimate))} {unit} ({level_text} {number(a)} to {number(b)})"
        else:
            size = f"changed by {number(e.estimate)} {unit} ({level_text} {number(e.lower)} to {number(e.upper)})"
    tail = "" if e.significant else ": not a clear change either way"
    return f"{title} {size} {when} {where}, {COMPARED_WITH[result.method]}{tail}."


def expectation_sentence(result: EvaluationResult, expected: str) -> str:
    """Whether the result agrees with the direction stated at registration."""
    e = result.effect
    if not e.significant:
        return (f"A {expected} was expected when the change was registered; the data cannot confirm or rule out "
                "an effect of the size the interval shows.")
    went = "decrease" if e.estimate < 0 else "increase"
    if went == expected:
        return f"A {expected} was expected when the change was registered, and this is what was seen."
    return (f"A {expected} was expected when the change was registered, but the indicator moved the other way: "
            "look for another explanation before crediting or blaming the change.")
