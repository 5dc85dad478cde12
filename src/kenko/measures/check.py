"""Checks only the engine can make: formula names and cycles, period counts."""

from __future__ import annotations

from kenko.measures import formula
from kenko.measures.events import period_count
from kenko.scorecard.model import Group, Measure, Scorecard


def check_scorecard_semantics(scorecard: Scorecard) -> list[tuple[str, str]]:
    """(key path, message) per problem; empty when the scorecard can be computed."""
    problems: list[tuple[str, str]] = []
    problems += check_groups(scorecard.groups, "groups")
    for s, segment in enumerate(scorecard.segments):
        if segment.groups:
            problems += check_groups(segment.groups, f"segments[{s}].groups")
    return problems


def check_groups(groups: list[Group], prefix: str) -> list[tuple[str, str]]:
    """Problems in one variant's groups; key paths start with ``prefix``."""
    problems: list[tuple[str, str]] = []
    paths: dict[str, str] = {}
    measures: dict[str, Measure] = {}
    for g, group in enumerate(groups):
        for i, m in enumerate(group.measures):
            paths[m.name] = f"{prefix}[{g}].measures[{i}]"
            measures[m.name] = m

    reads: dict[str, set[str]] = {}
    for name, m in measures.items():
        if m.per_period is not None and period_count(m) is None:
            problems.append(
                (
                    f"{paths[name]}.per_period.period",
                    f"window {m.window} is not a whole number of periods of "
                    f"{m.per_period.period}; pick a period that divides the window "
                    "(12w / 1w, 3mo / 1mo)",
                )
            )
        if m.formula is None:
            continue
        try:
            used = formula.names(m.formula)
        except formula.FormulaSyntaxError as exc:
            problems.append((f"{paths[name]}.formula", str(exc)))
            continue
        unknown = sorted(used - set(measures) - set(formula.BUILTINS))
        for other in unknown:
            problems.append(
                (
                    f"{paths[name]}.formula",
                    f"measure {name!r} reads {other!r}, which is neither a measure of "
                    f"this scorecard nor one of {', '.join(formula.BUILTINS)}",
                )
            )
        reads[name] = used & set(measures)

    for name in formula_cycle_members(reads):
        problems.append(
            (
                f"{paths[name]}.formula",
                f"measure {name!r} depends on itself through its formula; "
                "break the cycle",
            )
        )
    return problems


def formula_cycle_members(reads: dict[str, set[str]]) -> list[str]:
    """Formula measures that depend on themselves, in a stable order."""
    members = []
    for start in sorted(reads):
        seen: set[str] = set()
        stack = list(reads[start])
        while stack:
            name = stack.pop()
            if name == start:
                members.append(start)
                break
            if name in seen:
                continue
            seen.add(name)
            stack.extend(reads.get(name, ()))
    return members


def formula_order(reads: dict[str, set[str]]) -> list[str]:
    """Formula measures ordered so each comes after the formulas it reads."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for other in sorted(reads.get(name, ())):
            if other in reads:
                visit(other)
        order.append(name)

    for name in sorted(reads):
        visit(name)
    return order
