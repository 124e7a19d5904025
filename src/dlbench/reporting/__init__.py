"""Run summaries, the terminal table, and sweep comparison reports."""
