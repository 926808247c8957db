"""A scenario's result, its targets, and how results are printed (a table, or JSON lines)."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import Any

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


@dataclass
class Target:
    """A goal from issue 7, judged against one figure: ``figure op limit``."""

    figure: str
    op: str
    limit: float

    def met(self, value: Any) -> bool | None:
        if value is None:
            return None
        return _OPS[self.op](value, self.limit)


@dataclass
class Result:
    scenario: str
    database: str
    size: int
    rounds: int
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "database": self.database,
            "size": self.size,
            "rounds": self.rounds,
            "figures": self.figures,
            "targets": {
                t.figure: {"op": t.op, "limit": t.limit, "met": t.met(self.figures.get(t.figure))}
                for t in self.targets
            },
            "notes": self.notes,
        }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(results: list[Result]) -> str:
    """A Markdown table: scenario, figure, value, target, met (docs/benchmarks.md pastes it)."""
    lines = ["| scenario | db | figure | value | target | met |", "|---|---|---|---:|---|---|"]
    for result in results:
        goals = {t.figure: t for t in result.targets}
        for name, value in result.figures.items():
            goal = goals.get(name)
            verdict = "" if goal is None else {True: "met", False: "NOT MET", None: "n/a"}[goal.met(value)]
            target = "" if goal is None else f"{goal.op} {_fmt(goal.limit)}"
            lines.append(
                f"| {result.scenario} (n={result.size:,}) | {result.database} | {name} | {_fmt(value)} "
                f"| {target} | {verdict} |"
            )
    return "\n".join(lines)


def notes(results: list[Result]) -> str:
    out = []
    for result in results:
        out.extend(f"- {result.scenario} ({result.database}): {note}" for note in result.notes)
    return "\n".join(out)


def json_lines(results: list[Result]) -> str:
    return "\n".join(json.dumps(result.as_dict(), sort_keys=False) for result in results)
