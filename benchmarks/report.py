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
    #: figure -> the figure that is its floor (what the least any implementation pays), so the
    #: table prints the two side by side: ``project_seconds`` beside ``floor_seconds``.
    floors: dict[str, str] = field(default_factory=dict)

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
            "floors": self.floors,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """A result read back from ``--json`` (how ``--database both`` joins two runs)."""
        return cls(
            data["scenario"],
            data["database"],
            data["size"],
            data["rounds"],
            figures=data["figures"],
            targets=[Target(name, t["op"], t["limit"]) for name, t in data["targets"].items()],
            notes=data["notes"],
            floors=data.get("floors", {}),
        )


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


def _verdict(goal: Target | None, value: Any) -> str:
    return "" if goal is None else {True: "met", False: "NOT MET", None: "n/a"}[goal.met(value)]


def table(results: list[Result]) -> str:
    """A Markdown table, one line a figure: its value, its floor, its target and the verdict.

    Results of several databases (``--database both``) share lines: a scenario's figure is one
    line with a value, floor and verdict column for each database, in the order first run.
    """
    databases = list(dict.fromkeys(result.database for result in results))
    head = "| scenario | figure | " + " | ".join(f"{db} | {db} floor" for db in databases)
    head += " | target | met" + (f" ({' / '.join(databases)})" if len(databases) > 1 else "") + " |"
    lines = [head, "|---|---|" + "---:|---:|" * len(databases) + "---|---|"]
    by_scenario: dict[tuple[str, int], dict[str, Result]] = {}
    for result in results:
        by_scenario.setdefault((result.scenario, result.size), {})[result.database] = result
    for (scenario, size), per_db in by_scenario.items():
        names = list(dict.fromkeys(name for r in per_db.values() for name in r.figures))
        for name in names:
            cells, verdicts, targets = [], [], []
            for db in databases:
                result = per_db.get(db)
                if result is None:
                    cells += ["", ""]
                    verdicts.append("")
                    continue
                value = result.figures.get(name)
                floor = result.floors.get(name)
                cells += [
                    "" if value is None and name not in result.figures else _fmt(value),
                    "" if floor is None else _fmt(result.figures.get(floor)),
                ]
                own = {t.figure: t for t in result.targets}.get(name)
                verdicts.append(_verdict(own, value))
                targets.append("" if own is None else f"{own.op} {_fmt(own.limit)}")
            # One target when the databases share it, else each database's (1.3 and 1.2 x floor).
            targets = [t for t in dict.fromkeys(targets) if t]
            target = " / ".join(targets) if len(set(targets)) > 1 else "".join(targets[:1])
            met = " / ".join(verdicts) if any(verdicts) else ""
            lines.append(f"| {scenario} (n={size:,}) | {name} | {' | '.join(cells)} | {target} | {met} |")
    return "\n".join(lines)


def notes(results: list[Result]) -> str:
    out = []
    for result in results:
        out.extend(f"- {result.scenario} ({result.database}): {note}" for note in result.notes)
    return "\n".join(out)


def json_lines(results: list[Result]) -> str:
    return "\n".join(json.dumps(result.as_dict(), sort_keys=False) for result in results)
