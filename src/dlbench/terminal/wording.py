"""Counts in sentences: "1 job", "2 jobs" (a report that says "1 jobs" reads as careless)."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`plural(1, "job")` -> "1 job"; `plural(3, "job")` -> "3 jobs"; irregular: `nouns`."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
