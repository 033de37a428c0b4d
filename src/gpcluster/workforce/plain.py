"""Plain-language sentences about one practice's allocation, for busy GPs."""

from __future__ import annotations

import math

import pandas as pd

from gpcluster.workforce.params import load_model
from gpcluster.workforce.roles import URBAN_RURAL_8, role_label


def _hours(h: float) -> str:
    return f"{h:.1f} hour{'' if round(h, 1) == 1 else 's'}"


def visit_frequency(visits_per_week: float) -> str:
    """'1 day a week', '1 day a fortnight', '1 day every 3 weeks', '2 days a week'..."""
    if visits_per_week <= 0 or math.isnan(visits_per_week):
        return "no visits"
    if visits_per_week >= 0.95:
        days = round(visits_per_week * 2) / 2
        return f"{days:g} day{'' if days == 1 else 's'} a week"
    weeks = 1 / visits_per_week
    if abs(weeks - 2) < 0.25:
        return "1 day a fortnight"
    if abs(weeks - 4.33) < 0.4:
        return "1 day a month"
    return f"1 day every {round(weeks):d} weeks"


def describe_allocation(row: pd.Series, practice: pd.Series, model_label: str | None = None) -> str:
    """One sentence describing a practice's allocation of one role (a row of allocate()'s output and the
    practice's row of the practice frame)."""
    label = model_label or row.get("model_label") or load_model(row["model"]).label
    code = practice.get("urban_rural_8")
    # a practice with no known data zone (e.g. PHS published no contact details for it) has no class
    ur = URBAN_RURAL_8.get(int(code), "unknown rurality") if pd.notna(code) else "unknown rurality"
    who = f"{practice.get('practice_name') or row['practice_code']} ({int(row['list_size']):,} patients, {ur})"
    role = role_label(row["role"])
    hours = float(row["hours_per_week"])
    if isinstance(row.get("hub_id"), str) and row["hub_id"]:
        neighbours = int(row["hub_practices"]) - 1
        with_whom = (f"with {neighbours} neighbour{'' if neighbours == 1 else 's'}" if neighbours > 0
                     else "on its own")
        return (f"Under {label}, {who} shares a {row['hub_wte']:.1f} WTE hub {role} {with_whom}: "
                f"{visit_frequency(float(row['visits_per_week']))} on site "
                f"({_hours(float(row['on_site_hours_per_week']))} a week after "
                f"{_hours(float(row['travel_hours_per_week']))} of travel).")
    sentence = f"Under {label}, {who} gets {_hours(hours)} of {role} time a week"
    if not bool(row["viable"]):
        sentence += " — below a viable session"
    return sentence + "."


def describe_practice(allocation: pd.DataFrame, practices: pd.DataFrame, practice_code: str,
                      role: str | None = None) -> list[str]:
    """Sentences for one practice (one per role allocated, or only `role`) from allocate()'s output."""
    rows = allocation[allocation["practice_code"] == practice_code]
    if role is not None:
        rows = rows[rows["role"] == role]
    practice = practices.set_index("practice_code").loc[practice_code]
    return [describe_allocation(row, practice) for _, row in rows.iterrows()]
