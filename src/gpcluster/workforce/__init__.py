"""MDT workforce and allocation planning with equity analysis.

Library API (pure functions over pandas DataFrames, for the CLI and the web planner pages):
- roster: read_roster(path, known_practices) -> (posts, sessions); template_path(xlsx)
- store: import_roster(con, path), read_roster_tables(con, as_at), read_practices(con), read_agesex(con)
- coverage: coverage(practices, agesex, posts, sessions, level), roster_budgets(...)
- allocate: allocate(practices, agesex, model, budget_wte, role), allocate_roles(..., budgets)
- compare: compare(alloc_a, alloc_b, practices, agesex[, prepared]), practices_with_need(...), gp_time(allocation);
  summarise(allocation, prepared) and compare_summaries(sa, sb, prepared) to compare many pairs
- equity: concentration_index(values, order, weights), slope_index_of_inequality(values, order, weights)
- plain: describe_practice(allocation, practices, code)
- params: load_model(name|path), model_names(), load_assumptions(path)
- export: write_tables(tables, out), disclose(frame)
"""

from gpcluster.workforce.allocate import allocate, allocate_roles
from gpcluster.workforce.compare import compare, compare_summaries, gp_time, practices_with_need, summarise
from gpcluster.workforce.coverage import coverage, roster_budgets
from gpcluster.workforce.equity import concentration_index, slope_index_of_inequality
from gpcluster.workforce.params import load_assumptions, load_model, model_names
from gpcluster.workforce.plain import describe_practice
from gpcluster.workforce.roster import read_roster, template_path

__all__ = [
    "allocate", "allocate_roles", "compare", "compare_summaries", "concentration_index", "coverage", "describe_practice", "gp_time",
    "load_assumptions", "load_model", "model_names", "practices_with_need", "read_roster", "roster_budgets", "slope_index_of_inequality",
    "summarise", "template_path",
]
