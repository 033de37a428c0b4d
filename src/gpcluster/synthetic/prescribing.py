"""Synthetic "Prescriptions in the Community" months at real scale, in the PHS layout, for the demo and
the benchmarks: about 1.2 million practice rows a month for Scotland, linked to the synthetic practices.

The model (vectorised numpy, one month and a block of practices at a time, streamed to disk):

* A synthetic formulary of about 20,000 presentations. The presentations the shipped prescribing
  measures read use the real BNF chemical codes and plausible descriptions (co-amoxiclav 0501013K0,
  cephalosporins 050102, quinolones 050112, proton pump inhibitors 010305 with their strengths,
  gabapentinoids, strong opioids, benzodiazepines and Z-drugs, NSAIDs, metered-dose and dry-powder
  inhalers, generic and branded products). The rest are invented "AGENT" chemicals spread over the
  BNF chapters so that row counts, code ranges and costs look like a real month.
* Expected items of presentation p at practice i in a month = the practice's patients in the
  presentation's age group (children, adults, older people or everyone, from its list by age band) x
  the presentation's national rate x a deprivation ratio for its theme (antibiotics, opioids,
  gabapentinoids, hypnotics ... more prescribing in SIMD quintile 1) x a practice effect per theme
  (lognormal, fixed over time: this is what makes practices differ on the measures) x season x any
  planted change. Items are Poisson draws; a row is written where items > 0.
* Quantity = items x the presentation's pack size; cost = quantity x its unit price (brands cost more).
* Non-practice prescribing (PHS codes 99996 community pharmacy, 99997 unallocated, 99998 hospital,
  99999 dental) is written per board for a subset of presentations.

Planted changes (`planted_prescribing_changes`) multiply one theme's presentations at chosen practices
from a start month; the truth is written next to the files as prescribing_truth.csv.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from gpcluster.synthetic.scotland import SyntheticScotland

LAYOUTS = {
    # PHS layout from May 2023 (DMDCode added)
    "2023": ("HBT", "GPPractice", "DMDCode", "BNFItemCode", "BNFItemDescription", "ClassOfPreparationCode",
             "NumberOfPaidItems", "PaidQuantity", "GrossIngredientCost", "PaidDateMonth"),
    # earlier PHS layout (boards as HBT2014, no dm+d code)
    "2016": ("HBT2014", "GPPractice", "BNFItemCode", "BNFItemDescription", "ClassOfPreparationCode",
             "NumberOfPaidItems", "PaidQuantity", "GrossIngredientCost", "PaidDateMonth"),
}
TRUTH_FILE = "prescribing_truth.csv"
FILLER_PRESENTATIONS = 20_000
FILLER_SPREAD = 3.1  # sd of log popularity of filler presentations: a few take most items
MONTHLY_ITEMS_PER_PATIENT = 1.55  # Scotland dispenses about 100 million items a year
REAL_WEIGHT_SCALE = 4000  # a real presentation's weight w means w / 4000 items per patient in its group a month
PRACTICE_BLOCK = 120  # practices generated together (bounds memory: block x presentations floats)
NON_PRACTICE = {"99996": 300, "99997": 2500, "99998": 3000, "99999": 60}  # code -> presentations per board
# age groups: weights over PHS bands 0-4, 5-14, 15-24, 25-44, 45-64, 65-74, 75-84, 85+
AGE_GROUPS = {
    "child": np.array([1.0, 1.0, 0.2, 0, 0, 0, 0, 0]),
    "adult": np.array([0, 0.1, 0.6, 1.0, 1.2, 1.0, 0.8, 0.6]),
    "older": np.array([0, 0, 0.05, 0.2, 1.0, 2.6, 3.6, 4.2]),
    "all": np.array([0.9, 0.5, 0.5, 0.7, 1.1, 1.8, 2.4, 2.8]),
}
GROUP_NAMES = tuple(AGE_GROUPS)
# theme -> (rate ratio SIMD quintile 1..5, practice effect sd in log rate)
THEMES = {
    "general": (np.array([1.15, 1.10, 1.05, 1.02, 1.00]), 0.10),
    "antibiotic": (np.array([1.25, 1.15, 1.08, 1.03, 1.00]), 0.20),
    "broad_spectrum": (np.array([1.10, 1.05, 1.02, 1.00, 1.00]), 0.35),
    "ppi_high": (np.array([1.10, 1.05, 1.02, 1.00, 1.00]), 0.25),
    "ppi": (np.array([1.20, 1.12, 1.06, 1.02, 1.00]), 0.15),
    "gabapentinoid": (np.array([1.70, 1.40, 1.20, 1.07, 1.00]), 0.30),
    "strong_opioid": (np.array([1.60, 1.35, 1.18, 1.06, 1.00]), 0.30),
    "hypnotic": (np.array([1.50, 1.30, 1.15, 1.05, 1.00]), 0.30),
    "nsaid": (np.array([1.20, 1.10, 1.05, 1.02, 1.00]), 0.20),
    "nsaid_other": (np.array([1.10, 1.05, 1.00, 1.00, 1.00]), 0.40),
    "inhaler_mdi": (np.array([1.30, 1.20, 1.10, 1.05, 1.00]), 0.30),
    "inhaler_dpi": (np.array([1.10, 1.08, 1.05, 1.02, 1.00]), 0.30),
    "brand": (np.ones(5), 0.30),
}
# Monthly season by calendar month (Jan..Dec): antibiotics peak in winter.
SEASON = {"antibiotic": np.array([1.25, 1.15, 1.05, 0.95, 0.90, 0.85, 0.80, 0.82, 0.90, 1.00, 1.10, 1.23])}


@dataclass(frozen=True)
class Presentation:
    code: str
    description: str
    group: str
    theme: str
    weight: float  # relative national items
    pack: int
    unit_price: float


@dataclass(frozen=True)
class PrescribingChange:
    """A deliberate change in one practice's prescribing: `theme` presentations x `effect` from `start`."""

    practice_code: str
    theme: str
    measures: tuple[str, ...]
    start: date
    effect: float
    description: str


# theme, effect, practices, the catalogue measures it should move
CHANGE_PLAN = (
    ("antibiotic", 1.6, 3, ("rx_antibacterial_items", "rx_antibacterial_items_star_pu")),
    ("broad_spectrum", 2.5, 2, ("rx_broad_spectrum_antibiotics",)),
    ("gabapentinoid", 0.5, 2, ("rx_gabapentinoid_items",)),
    ("strong_opioid", 1.8, 2, ("rx_strong_opioid_items",)),
    ("inhaler_mdi", 0.35, 2, ("rx_inhaler_mdi_share",)),
)


def _real_presentations() -> list[Presentation]:
    """Presentations the shipped measures read, with real BNF chemical codes."""
    rows = []

    def add(chemical: str, name: str, forms: list[tuple[str, str, int, float]], group: str, theme: str,
            weight: float, brands: list[str] = ()) -> None:
        # forms: (strength/formulation code, description tail, pack, unit price)
        for i, (sf, tail, pack, price) in enumerate(forms):
            share = weight / len(forms) * (1.6 if i == 0 else 1.0)
            rows.append(Presentation(f"{chemical}AAA{sf}A{sf}", f"{name}_{tail}", group, theme, share, pack, price))
            for b, brand in enumerate(brands):
                rows.append(Presentation(f"{chemical}B{chr(66 + b)}A{sf}A{sf}", f"{brand}_{tail}", group, theme,
                                         share * 0.12, pack, price * 3.5))

    caps = [("A", "CAP 250MG", 21, 0.08), ("B", "CAP 500MG", 21, 0.10), ("C", "ORAL SUSP 250MG/5ML", 100, 0.02)]
    # antibacterials (0501): amoxicillin, flucloxacillin, doxycycline, clarithromycin, trimethoprim, nitrofurantoin
    add("0501013B0", "AMOXICILLIN", caps, "all", "antibiotic", 55.0, ["AMOXIL"])
    add("0501012G0", "FLUCLOXACILLIN", caps, "all", "antibiotic", 20.0)
    add("0501030I0", "DOXYCYCLINE", [("A", "CAP 100MG", 8, 0.09)], "adult", "antibiotic", 18.0, ["VIBRAMYCIN"])
    add("0501050B0", "CLARITHROMYCIN", [("A", "TAB 500MG", 14, 0.12)], "adult", "antibiotic", 12.0, ["KLARICID"])
    add("0501080W0", "TRIMETHOPRIM", [("A", "TAB 200MG", 6, 0.06)], "adult", "antibiotic", 12.0)
    add("0501130R0", "NITROFURANTOIN", [("A", "CAP 50MG", 12, 0.45)], "adult", "antibiotic", 10.0)
    add("0501090H0", "ISONIAZID", [("A", "TAB 100MG", 28, 0.30)], "adult", "antibiotic", 0.3)  # antituberculosis
    # broad spectrum: co-amoxiclav, cephalosporins (050102), quinolones (050112)
    add("0501013K0", "CO-AMOXICLAV", [("A", "TAB 500MG/125MG", 21, 0.15)], "all", "broad_spectrum", 9.0,
        ["AUGMENTIN"])
    add("0501021L0", "CEFALEXIN", [("A", "CAP 500MG", 21, 0.12)], "all", "broad_spectrum", 5.0)
    add("0501021K0", "CEFUROXIME", [("A", "TAB 250MG", 14, 0.60)], "adult", "broad_spectrum", 1.0, ["ZINNAT"])
    add("0501120L0", "CIPROFLOXACIN", [("A", "TAB 500MG", 10, 0.10)], "adult", "broad_spectrum", 4.0, ["CIPROXIN"])
    add("0501120P0", "LEVOFLOXACIN", [("A", "TAB 500MG", 7, 0.90)], "adult", "broad_spectrum", 0.8)
    # proton pump inhibitors (010305): low and high doses
    add("0103050P0", "OMEPRAZOLE", [("A", "CAP GASTRO-RESISTANT 10MG", 28, 0.05),
                                    ("B", "CAP GASTRO-RESISTANT 20MG", 28, 0.04)], "older", "ppi", 60.0, ["LOSEC"])
    add("0103050P0", "OMEPRAZOLE", [("E", "CAP GASTRO-RESISTANT 40MG", 28, 0.06)], "older", "ppi_high", 14.0)
    add("0103050L0", "LANSOPRAZOLE", [("A", "CAP GASTRO-RESISTANT 15MG", 28, 0.04)], "older", "ppi", 30.0,
        ["ZOTON FASTAB"])
    add("0103050L0", "LANSOPRAZOLE", [("B", "CAP GASTRO-RESISTANT 30MG", 28, 0.05)], "older", "ppi_high", 16.0)
    add("0103050E0", "ESOMEPRAZOLE", [("A", "TAB GASTRO-RESISTANT 20MG", 28, 0.08),
                                      ("B", "TAB GASTRO-RESISTANT 40MG", 28, 0.10)], "older", "ppi_high", 6.0,
        ["NEXIUM"])
    add("0103050R0", "PANTOPRAZOLE", [("A", "TAB GASTRO-RESISTANT 20MG", 28, 0.06)], "older", "ppi", 3.0)
    add("0103050R0", "PANTOPRAZOLE", [("B", "TAB GASTRO-RESISTANT 40MG", 28, 0.07)], "older", "ppi_high", 2.0)
    # gabapentinoids (040801): pregabalin, gabapentin
    add("0408010AE", "PREGABALIN", [("A", "CAP 75MG", 56, 0.04), ("B", "CAP 150MG", 56, 0.05)], "adult",
        "gabapentinoid", 14.0, ["LYRICA"])
    add("0408010G0", "GABAPENTIN", [("A", "CAP 300MG", 100, 0.03), ("B", "TAB 600MG", 100, 0.06)], "adult",
        "gabapentinoid", 12.0, ["NEURONTIN"])
    # opioids (040702): strong (morphine, oxycodone, fentanyl, buprenorphine) and weak (codeine, tramadol)
    add("0407020Q0", "MORPHINE SULFATE", [("A", "TAB MODIFIED-RELEASE 10MG", 60, 0.08),
                                          ("B", "ORAL SOLN 10MG/5ML", 100, 0.03)], "older", "strong_opioid", 8.0,
        ["ZOMORPH", "MST CONTINUS"])
    add("0407020AD", "OXYCODONE HYDROCHLORIDE", [("A", "CAP 5MG", 56, 0.10)], "older", "strong_opioid", 4.0,
        ["OXYCONTIN"])
    add("0407020A0", "FENTANYL", [("A", "TRANSDERMAL PATCH 25MICROGRAMS/HOUR", 5, 3.50)], "older",
        "strong_opioid", 2.0, ["DUROGESIC DTRANS"])
    add("0407020B0", "BUPRENORPHINE", [("A", "TRANSDERMAL PATCH 5MICROGRAMS/HOUR", 4, 4.00)], "older",
        "strong_opioid", 2.5, ["BUTEC"])
    add("0407010F0", "CO-CODAMOL", [("A", "TAB 30MG/500MG", 100, 0.03)], "adult", "general", 30.0)
    add("0407020T0", "TRAMADOL HYDROCHLORIDE", [("A", "CAP 50MG", 100, 0.03)], "adult", "general", 14.0)
    # hypnotics and anxiolytics (0401): Z-drugs and benzodiazepines; melatonin is excluded by the measure
    add("0401010Z0", "ZOPICLONE", [("A", "TAB 7.5MG", 28, 0.03)], "older", "hypnotic", 12.0)
    add("0401010Y0", "ZOLPIDEM TARTRATE", [("A", "TAB 10MG", 28, 0.04)], "older", "hypnotic", 1.5)
    add("0401010T0", "TEMAZEPAM", [("A", "TAB 10MG", 28, 0.10)], "older", "hypnotic", 2.0)
    add("0401020K0", "DIAZEPAM", [("A", "TAB 2MG", 28, 0.02), ("B", "TAB 5MG", 28, 0.02)], "adult", "hypnotic",
        10.0)
    add("0401020P0", "LORAZEPAM", [("A", "TAB 1MG", 28, 0.20)], "older", "hypnotic", 1.5)
    add("0401010AD", "MELATONIN", [("A", "TAB MODIFIED-RELEASE 2MG", 30, 0.50)], "child", "general", 3.0,
        ["CIRCADIN"])
    # NSAIDs (100101): ibuprofen and naproxen preferred; diclofenac, etoricoxib, celecoxib, mefenamic acid not
    add("1001010J0", "IBUPROFEN", [("A", "TAB 400MG", 24, 0.04)], "adult", "nsaid", 9.0, ["BRUFEN"])
    add("1001010P0", "NAPROXEN", [("A", "TAB 500MG", 56, 0.05)], "adult", "nsaid", 12.0, ["NAPROSYN"])
    add("1001010C0", "DICLOFENAC SODIUM", [("A", "TAB GASTRO-RESISTANT 50MG", 84, 0.04)], "adult", "nsaid_other",
        2.5, ["VOLTAROL"])
    add("1001010AH", "ETORICOXIB", [("A", "TAB 60MG", 28, 0.08)], "adult", "nsaid_other", 1.5, ["ARCOXIA"])
    add("1001010AF", "CELECOXIB", [("A", "CAP 100MG", 60, 0.05)], "adult", "nsaid_other", 0.8)
    add("1001010N0", "MEFENAMIC ACID", [("A", "CAP 250MG", 100, 0.30)], "adult", "nsaid_other", 0.7)
    # direct oral anticoagulants (0208020): apixaban, rivaroxaban
    add("0208020Z0", "APIXABAN", [("A", "TAB 5MG", 56, 0.95)], "older", "general", 20.0, ["ELIQUIS"])
    add("0208020Y0", "RIVAROXABAN", [("A", "TAB 20MG", 28, 1.80)], "older", "general", 12.0, ["XARELTO"])
    # inhalers (03): metered-dose (MDI, "INHALER ... CFF") and dry-powder (DPI) devices
    for chemical, name, mdi, dpi, weight, brand in (
            ("0301011R0", "SALBUTAMOL", "INHALER 100MCG (200D) CFF", "DRY POWDER INHALER 100MCG (200D)", 40.0,
             "VENTOLIN"),
            ("0302000C0", "BECLOMETASONE/FORMOTEROL", "INHALER 100MCG/6MCG (120D) CFF",
             "DRY POWDER INHALER 100MCG/6MCG (120D) NEXTHALER", 10.0, "FOSTAIR"),
            ("0302000N0", "BUDESONIDE/FORMOTEROL", "INHALER 200MCG/6MCG (120D) CFF",
             "TURBOHALER 200MCG/6MCG (120D)", 8.0, "SYMBICORT"),
            ("0302000V0", "FLUTICASONE/SALMETEROL", "INHALER 125MCG/25MCG (120D) CFF",
             "ACCUHALER 250MCG/50MCG (60D)", 5.0, "SERETIDE"),
            ("0301020Q0", "TIOTROPIUM", "SOFT MIST INHALER 2.5MCG (60D)", "DRY POWDER INHALER 18MCG (30D)", 4.0,
             "SPIRIVA")):
        rows.append(Presentation(f"{chemical}AAAAAA", f"{name}_{mdi}", "all", "inhaler_mdi", weight * 0.6, 1, 3.0))
        rows.append(Presentation(f"{chemical}AAABAB", f"{name}_{dpi}", "all", "inhaler_dpi", weight * 0.4, 1, 6.0))
        rows.append(Presentation(f"{chemical}BBAAAAA"[:15], f"{brand}_{mdi}", "all", "inhaler_mdi", weight * 0.3, 1,
                                 18.0))
    return rows


_CHAPTER_SHARES = {  # chapter -> (share of filler weight, typical age group)
    "01": (0.08, "older"), "02": (0.18, "older"), "03": (0.05, "all"), "04": (0.17, "adult"), "05": (0.02, "all"),
    "06": (0.10, "older"), "07": (0.03, "adult"), "08": (0.01, "adult"), "09": (0.06, "older"), "10": (0.03, "adult"),
    "11": (0.03, "older"), "12": (0.02, "all"), "13": (0.07, "all"), "14": (0.005, "child"), "15": (0.005, "adult"),
    "19": (0.01, "all"), "20": (0.05, "older"), "21": (0.06, "older"), "22": (0.01, "older"), "23": (0.01, "older"),
}
_FORMS = ("TAB", "CAP", "ORAL SOLN", "CREAM", "OINT", "INJ", "EYE DROPS", "GRANULES")
_STRENGTHS = ("1MG", "2.5MG", "5MG", "10MG", "20MG", "25MG", "50MG", "100MG", "200MG", "500MG")
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _filler_presentations(rng: np.random.Generator, reserved: set[str]) -> list[Presentation]:
    """Invented chemicals and appliances spread over the chapters (codes outside the measures' ranges)."""
    rows: list[Presentation] = []
    chapters = list(_CHAPTER_SHARES)
    share = np.array([_CHAPTER_SHARES[c][0] for c in chapters])
    counts = rng.multinomial(FILLER_PRESENTATIONS, share / share.sum())
    for chapter, n in zip(chapters, counts, strict=True):
        group = _CHAPTER_SHARES[chapter][1]
        weights = rng.lognormal(0.0, FILLER_SPREAD, n)
        for k in range(n):
            if chapter >= "20":  # appliances: 11-character codes, no chemical
                code = f"{chapter}{rng.integers(10, 99)}{k:07d}"[:11]
                description = f"APPLIANCE {chapter} {k}"
            else:
                section = f"{chapter}{rng.integers(50, 99):02d}"  # sections 50-98 are unused by the measures
                chemical = (f"{section}0{rng.integers(1, 9)}{rng.integers(0, 9)}"
                            f"{_LETTERS[k % 26]}{_LETTERS[(k // 26) % 26]}")
                strength = _LETTERS[rng.integers(0, 26)]
                branded = rng.random() < 0.18
                product = f"B{_LETTERS[rng.integers(0, 26)]}" if branded else "AA"
                code = f"{chemical}{product}A{strength}A{strength}"
                description = (f"AGENT {chemical}_{_FORMS[k % len(_FORMS)]} "
                               f"{_STRENGTHS[rng.integers(0, len(_STRENGTHS))]}")
            if code in reserved:
                continue
            reserved.add(code)
            rows.append(Presentation(code, description, group, "brand" if code[9:10] == "B" else "general",
                                     float(weights[k]), int(rng.choice([28, 56, 84, 100, 1])),
                                     float(np.round(rng.lognormal(-2.3, 1.2), 3))))
    return rows


class Formulary:
    """Every synthetic presentation as arrays (index = presentation)."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 16]))
        real = _real_presentations()
        rows = real + _filler_presentations(rng, {p.code for p in real})
        self.code = np.array([p.code for p in rows])
        self.description = np.array([p.description for p in rows])
        self.group = np.array([GROUP_NAMES.index(p.group) for p in rows])
        self.theme = np.array([list(THEMES).index(p.theme) for p in rows])
        weight = np.array([p.weight for p in rows])
        self.pack = np.array([p.pack for p in rows], dtype=np.int64)
        self.unit_price = np.array([p.unit_price for p in rows])
        self.dmd = 9_100_000_000 + np.arange(len(rows), dtype=np.int64)  # synthetic dm+d-like codes
        self.appliance = np.array([p.code[:2] >= "20" for p in rows])
        # national items per patient in the presentation's age group a month: real presentations carry their
        # own weights, fillers share the rest of the monthly volume
        n_real = len(real)
        self.rate = np.empty(len(rows))
        self.rate[:n_real] = weight[:n_real] / REAL_WEIGHT_SCALE
        filler = weight[n_real:]
        self.rate[n_real:] = filler / filler.sum() * (MONTHLY_ITEMS_PER_PATIENT - self.rate[:n_real].sum())

    def __len__(self) -> int:
        return len(self.code)


def prescribing_months(scotland: SyntheticScotland, months: int) -> list[date]:
    """The last `months` months covered by the synthetic lists (ending with the last release's quarter)."""
    last = scotland.history.releases[-1]
    end = last.year * 12 + last.month - 1 + 2  # the last month of the last release's quarter
    return [date(i // 12, i % 12 + 1, 1) for i in range(end - months + 1, end + 1)]


def planted_prescribing_changes(scotland: SyntheticScotland, months: list[date]) -> list[PrescribingChange]:
    """The known changes planted in the synthetic prescribing for these months (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence([scotland.seed, 17]))
    h = scotland.history
    codes = h.practices["code"].to_numpy().astype(str)
    involved = {e.practice_code for e in h.events} | {e.detail for e in h.events}
    used = {s.practice_code for s in scotland.signals}
    eligible = np.flatnonzero(h.active.all(axis=1) & (h.list_size[:, -1] >= 4000)
                              & ~np.isin(codes, list(involved | used)))
    chosen = rng.permutation(eligible)
    changes, k = [], 0
    middle = months[len(months) // 3: max(len(months) // 3 + 1, 2 * len(months) // 3)]
    for theme, effect, count, measures in CHANGE_PLAN:
        for _ in range(count):
            start = middle[int(rng.integers(0, len(middle)))]
            verb = "rises" if effect > 1 else "falls"
            changes.append(PrescribingChange(str(codes[chosen[k]]), theme, measures, start, effect,
                                             f"{theme.replace('_', ' ')} prescribing {verb} x{effect:g} from {start:%b %Y}"))
            k += 1
    return changes


def _quarter_index(scotland: SyntheticScotland, month: date) -> int:
    releases = scotland.history.releases
    return max(i for i, r in enumerate(releases) if r <= month)


def _practice_rows(scotland: SyntheticScotland, formulary: Formulary, month: date, q: int,
                   changes: list[PrescribingChange], rng: np.random.Generator, effects: np.ndarray):
    """Yield (practice index, presentation index, items) arrays, a block of practices at a time."""
    h = scotland.history
    live = np.flatnonzero(h.active[:, q])
    cells = scotland.cells[live, q].sum(axis=1)  # (practice, band)
    groups = np.stack([cells @ AGE_GROUPS[g] for g in GROUP_NAMES], axis=1)  # patients in each age group
    simd = scotland.simd_quintile[live] - 1
    theme_ratio = np.stack([THEMES[t][0][simd] for t in THEMES], axis=1)  # (practice, theme)
    theme_ratio = theme_ratio * effects[live]
    season = np.ones(len(THEMES))
    for theme, by_month in SEASON.items():
        season[list(THEMES).index(theme)] = by_month[month.month - 1]
    codes = h.practices["code"].to_numpy().astype(str)[live]
    for change in changes:
        if month >= change.start:
            at = np.flatnonzero(codes == change.practice_code)
            theme_ratio[at, list(THEMES).index(change.theme)] *= change.effect
    base = formulary.rate * season[formulary.theme]
    for start in range(0, len(live), PRACTICE_BLOCK):
        block = slice(start, start + PRACTICE_BLOCK)
        lam = groups[block][:, formulary.group] * theme_ratio[block][:, formulary.theme] * base
        items = rng.poisson(lam)
        i, p = np.nonzero(items)
        yield live[block][i], p, items[i, p]


def _write(columns: dict[str, pa.Array], path: Path, append: bool) -> None:
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")  # no commas in synthetic text
    with path.open("ab" if append else "wb") as out:
        if not append:
            out.write((",".join(columns) + "\n").encode("utf-8"))
        pacsv.write_csv(pa.table(columns), out, options)


def _columns(layout: str, formulary: Formulary, board: np.ndarray, prescriber: np.ndarray, p: np.ndarray,
             items: np.ndarray, month: date) -> dict[str, pa.Array]:
    quantity = items * formulary.pack[p]
    cost = np.round(quantity * formulary.unit_price[p], 2)
    out = {
        "board": pa.array(board), "GPPractice": pa.array(prescriber),
        "DMDCode": pa.array(formulary.dmd[p]),
        "BNFItemCode": pa.DictionaryArray.from_arrays(pa.array(p.astype(np.int32)), pa.array(formulary.code)),
        "BNFItemDescription": pa.DictionaryArray.from_arrays(pa.array(p.astype(np.int32)),
                                                             pa.array(formulary.description)),
        "ClassOfPreparationCode": pa.array(np.where(formulary.appliance[p], 2, 1)),  # synthetic placeholder
        "NumberOfPaidItems": pa.array(items.astype(np.int64)), "PaidQuantity": pa.array(quantity.astype(np.int64)),
        "GrossIngredientCost": pa.array(cost), "PaidDateMonth": pa.array(np.full(len(p), month.year * 100 + month.month)),
    }
    names = LAYOUTS[layout]
    out[names[0]] = out.pop("board")
    return {name: out[name] for name in names}


def write_prescribing_month(scotland: SyntheticScotland, formulary: Formulary, month: date, path: Path,
                            changes: list[PrescribingChange], layout: str = "2023") -> int:
    """Write one month's file; returns its data rows."""
    h = scotland.history
    rng = np.random.default_rng(np.random.SeedSequence([scotland.seed, 18, month.year, month.month]))
    effects_rng = np.random.default_rng(np.random.SeedSequence([scotland.seed, 19]))
    sds = np.array([sd for _, sd in THEMES.values()])
    effects = np.exp(effects_rng.normal(0, 1, (len(h.practices), len(THEMES))) * sds - sds**2 / 2)
    q = _quarter_index(scotland, month)
    codes = h.practices["code"].to_numpy().astype(str)
    hb = h.practices["hb"].to_numpy().astype(str)
    rows = 0
    for i, p, items in _practice_rows(scotland, formulary, month, q, changes, rng, effects):
        _write(_columns(layout, formulary, hb[i], codes[i], p, items, month), path, append=rows > 0)
        rows += len(p)
    boards = np.unique(hb)
    drugs = np.flatnonzero(~formulary.appliance)
    for code, n in NON_PRACTICE.items():
        p = np.repeat(rng.choice(drugs, size=min(n, len(drugs)), replace=False,
                                 p=formulary.rate[drugs] / formulary.rate[drugs].sum()), len(boards))
        board = np.tile(boards, n)
        items = rng.poisson(formulary.rate[p] * 40_000) + 1
        _write(_columns(layout, formulary, board, np.full(len(p), code), p, items, month), path, append=True)
        rows += len(p)
    return rows


def write_synthetic_prescribing(scotland: SyntheticScotland, out_dir: Path, months: int = 12,
                                layout: str = "2023") -> list[Path]:
    """Write the last `months` months of prescribing (pitcYYYYMM.csv) and prescribing_truth.csv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    formulary = Formulary(scotland.seed)
    chosen = prescribing_months(scotland, months)
    changes = planted_prescribing_changes(scotland, chosen)
    paths = []
    for month in chosen:
        path = out_dir / f"pitc{month:%Y%m}.csv"
        write_prescribing_month(scotland, formulary, month, path, changes, layout)
        paths.append(path)
    with (out_dir / TRUTH_FILE).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["practice_code", "theme", "measures", "start_month", "effect", "description"])
        for c in changes:
            writer.writerow([c.practice_code, c.theme, " ".join(c.measures), f"{c.start:%Y-%m-%d}", c.effect,
                             c.description])
    return paths
