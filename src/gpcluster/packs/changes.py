"""What a corrected pack changes: the differences between two versions' content, in plain words for the
first section of the new version ("This is version 2: it corrects version 1. What changed: ...")."""

from __future__ import annotations

from gpcluster.packs.formatting import figure

MAX_LINES = 12  # a correction note longer than this says how many more differences there are


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def _titles(content: dict) -> dict[str, str]:
    return {i: d["title"] for i, d in content.get("indicators", {}).items()}


def _figure_changes(before: dict, after: dict) -> list[str]:
    titles = _titles(after)
    lines = []
    old = {(p["code"], r["indicator_id"]): r for p in before.get("practices", []) for r in p["rows"]}
    names = {p["code"]: p["name"] for p in after.get("practices", [])}
    for p in after.get("practices", []):
        for r in p["rows"]:
            o = old.get((p["code"], r["indicator_id"]))
            if o is None or (_close(o["value"], r["value"]) and o["suppressed"] == r["suppressed"]):
                continue
            indicator = after.get("indicators", {}).get(r["indicator_id"])
            was, now = figure(o["value"], indicator, o["suppressed"]), figure(r["value"], indicator, r["suppressed"])
            lines.append(f"{names[p['code']]}, {titles.get(r['indicator_id'], r['indicator_id'])}: {was} is now {now}")
    old_rows = {r["indicator_id"]: r for r in before.get("comparison", {}).get("rows", [])}
    for r in after.get("comparison", {}).get("rows", []):
        o = old_rows.get(r["indicator_id"])
        if o is not None and not _close(o["cluster"]["value"], r["cluster"]["value"]):
            indicator = after.get("indicators", {}).get(r["indicator_id"])
            lines.append(f"The cluster's {titles.get(r['indicator_id'], r['indicator_id'])}: "
                         f"{figure(o['cluster']['value'], indicator)} is now {figure(r['cluster']['value'], indicator)}")
    return lines


def describe_changes(before: dict, after: dict) -> list[str]:
    """Plain-language differences between an earlier version's content and a new one's (figures, signals,
    practices, source files, definitions, software)."""
    lines: list[str] = []
    old_signals = {s["signal_id"]: s for s in before.get("signals", [])}
    new_signals = {s["signal_id"]: s for s in after.get("signals", [])}
    for sid in sorted(new_signals.keys() - old_signals.keys()):
        s = new_signals[sid]
        lines.append(f"New signal: {s['area_name']}, {s['title']}")
    for sid in sorted(old_signals.keys() - new_signals.keys()):
        s = old_signals[sid]
        lines.append(f"Signal withdrawn: {s['area_name']}, {s['title']}")
    for sid in sorted(new_signals.keys() & old_signals.keys()):
        if old_signals[sid]["sentence"] != new_signals[sid]["sentence"]:
            lines.append(f"Signal reworded: {new_signals[sid]['area_name']}, {new_signals[sid]['title']}")
    old_practices = {p["code"]: p["name"] for p in before.get("practices", [])}
    new_practices = {p["code"]: p["name"] for p in after.get("practices", [])}
    lines += [f"Practice added: {new_practices[c]}" for c in sorted(new_practices.keys() - old_practices.keys())]
    lines += [f"Practice removed: {old_practices[c]}" for c in sorted(old_practices.keys() - new_practices.keys())]
    lines += _figure_changes(before, after)
    old_files = {(f["source"], f["file_name"]): f["sha256"] for f in before.get("provenance", {}).get("files", [])}
    for f in after.get("provenance", {}).get("files", []):
        sha = old_files.get((f["source"], f["file_name"]))
        if sha is None:
            lines.append(f"Source file added: {f['file_name']} ({f['source']})")
        elif sha != f["sha256"]:
            lines.append(f"Source file replaced by a corrected copy: {f['file_name']} ({f['source']})")
    old_defs = {d["indicator_id"]: d["version"] for d in before.get("provenance", {}).get("definitions", [])}
    for d in after.get("provenance", {}).get("definitions", []):
        if d["indicator_id"] in old_defs and old_defs[d["indicator_id"]] != d["version"]:
            lines.append(f"Definition revised: {d['title']} (version {old_defs[d['indicator_id']]} -> {d['version']})")
    if before.get("provenance", {}).get("software") != after.get("provenance", {}).get("software"):
        lines.append(f"Made with {after['provenance']['software']} (was {before.get('provenance', {}).get('software')})")
    if before.get("disclosure") != after.get("disclosure"):
        lines.append("Disclosure settings changed: some figures are now shown or suppressed differently")
    if not lines:
        lines.append("Figures rearranged or reworded; no figure changed")
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"and {len(lines) - MAX_LINES} more differences"]
    return lines
