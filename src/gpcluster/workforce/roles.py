"""The MDT roles of the 2018 GMS contract, by code. Codes are what the roster template accepts."""

from __future__ import annotations

ROLES: dict[str, str] = {
    "pharmacist": "pharmacist",
    "pharmacy_technician": "pharmacy technician",
    "app": "advanced physiotherapy practitioner",
    "anp": "advanced nurse practitioner",
    "mental_health_nurse": "mental health nurse",
    "mental_health_worker": "mental health worker",
    "community_link_worker": "community link worker",
    "paramedic": "paramedic / urgent care practitioner",
}

AGE_BANDS: tuple[str, ...] = ("0-4", "5-14", "15-24", "25-44", "45-64", "65-74", "75-84", "85+")
SEXES: tuple[str, ...] = ("Male", "Female")

# Scottish Government Urban Rural Classification, 8-fold (1 = large urban .. 8 = very remote rural).
URBAN_RURAL_8: dict[int, str] = {
    1: "large urban",
    2: "other urban",
    3: "accessible small town",
    4: "remote small town",
    5: "very remote small town",
    6: "accessible rural",
    7: "remote rural",
    8: "very remote rural",
}
URBAN_RURAL_6: dict[int, str] = {
    1: "large urban",
    2: "other urban",
    3: "accessible small town",
    4: "remote small town",
    5: "accessible rural",
    6: "remote rural",
}


def role_label(role: str) -> str:
    """Human label of a role code (the code itself when unknown)."""
    return ROLES.get(role, role)
