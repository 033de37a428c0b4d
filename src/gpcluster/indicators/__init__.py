"""Indicators: definitions as data (catalogue/<id>.toml), compiled to set-based SQL and computed for every
practice, cluster, HSCP, board and Scotland in every period, with statistics from gpcluster.stats.

Public API: definition.load_catalogue / load_definition, engine.compute / compute_frame / compute_batches / compute_table."""
