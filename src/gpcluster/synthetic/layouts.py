"""Column layouts of the files the synthetic Scotland writes: the real PHS layouts, column for column."""

from __future__ import annotations

from gpcluster.synthetic.populations import AGE_BANDS

BOARDS = ("HB", "HBName", "HBDateEnacted", "HBDateArchived", "Country")
HSCPS = ("HSCP", "HSCPName", "HSCPDateEnacted", "HSCPDateArchived", "Country")
SIMD = ("DataZone", "IntZone", "HB", "HSCP", "CA", "SIMD2020V2Rank", "SIMD2020V2CountryDecile",
        "SIMD2020V2CountryQuintile", "SIMD2020V2HBDecile", "SIMD2020V2HBQuintile", "SIMD2020V2HSCPDecile",
        "SIMD2020V2HSCPQuintile", "SIMD2020V2CADecile", "SIMD2020V2CAQuintile", "SIMD2020V2Most15pc",
        "SIMD2020V2Least15pc")
URBAN_RURAL = ("DataZone", *(f"UrbanRural{n}fold2020{qf}" for n in (2, 3, 6, 8) for qf in ("", "QF")))
DATA_ZONE_POPULATIONS = ("Year", "DataZone", "DataZoneQF", "Sex", "SexQF", "AllAges",
                         *(f"Age{a}" for a in range(90)), "Age90plus")
CONTACT_DETAILS = ("PracticeCode", "GPPracticeName", "PracticeListSize", "AddressLine1", "AddressLine2",
                   "AddressLine3", "AddressLine4", "Postcode", "TelephoneNumber", "PracticeType", "Dispensing",
                   "HB", "HSCP", "DataZone", "GPCluster")


def _qf(label: str) -> str:
    # PHS capitalises the qualifier columns differently from the value columns: Ages0to4 / Ages0To4QF.
    return "Ages" + label.replace("to", "To").replace("plus", "Plus") + "QF"


PRACTICE_POPULATIONS = ("Date", "PracticeCode", "HB", "HSCP", "Sex", "SexQF", "AllAges", "AllAgesQF",
                        *(c for label, _, _ in AGE_BANDS for c in (f"Ages{label}", _qf(label))))
GP_HEADCOUNT = ("PracticeCode", "HB", "HSCP", "GPDesignation", "Sex", "Headcount")
PRACTICE_ACTIVITY = ("Date", "PracticeCode", "Measure", "Value")
REFERENCE_RATES = ("Date", "Measure", "Sex", "AgeBand", "Rate")
PLANTED_SIGNALS = ("PracticeCode", "Measure", "Kind", "Start", "Effect", "Description")
