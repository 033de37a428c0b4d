"""Refresh the recorded CKAN responses in tests/sources/recorded/ from the live PHS portal.

Never run by the tests (they must not touch the network). Run by hand when the portal's response shape
changes:  .venv/bin/python scripts/record_ckan_responses.py
It fetches `package_show` for "GP Practice Populations", keeps the two newest CSV resources (and one
non-CSV resource, so the tests check it is ignored), and saves the first rows of each CSV: enough to
exercise the loaders while keeping the repository small. Review the diff before committing.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpcluster.sources.ckan import CkanClient
from gpcluster.sources.gp_practice_populations import SOURCE

OUT = Path(__file__).resolve().parents[1] / "tests" / "sources" / "recorded"
PRACTICES_KEPT = 1  # rows for one practice (Male, Female, All) per release


def main() -> None:
    with CkanClient() as client:
        package = client.package_show(SOURCE.dataset_id)
        csvs = [r for r in package["resources"] if str(r.get("format", "")).upper() == "CSV"]
        csvs.sort(key=lambda r: r.get("created") or "", reverse=True)
        others = [r for r in package["resources"] if r not in csvs][:1]
        package["resources"] = csvs[:2] + others
        package["num_resources"] = len(package["resources"])
        for resource in csvs[:2]:
            name = Path(resource["url"]).name
            lines = client.http.get(resource["url"]).text.splitlines()
            (OUT / name).write_text("\n".join(lines[: 1 + 3 * PRACTICES_KEPT]) + "\n", encoding="utf-8")
        body = {"help": f"{client.base_url}/api/3/action/help_show?name=package_show", "success": True,
                "result": package}
        (OUT / "package_show_gp-practice-populations.json").write_text(json.dumps(body, indent=1))
    print(f"recorded {len(package['resources'])} resources into {OUT}")


if __name__ == "__main__":
    main()
