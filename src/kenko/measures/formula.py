"""Formulas over other measures, evaluated safely and for every account at once.

Only numbers, names, + - * /, parentheses, unary minus, min() and max() are allowed;
the text is parsed with ``ast`` and never handed to ``eval``. Division by zero or a
missing input gives a missing value.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import numpy as np
import pandas as pd

BUILTINS = ("seats", "mrr", "tenure_days")

_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class FormulaSyntaxError(ValueError):
    """The formula uses something outside the small arithmetic language."""


def parse(text: str) -> ast.expr:
    """The checked expression tree of a formula."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise FormulaSyntaxError(f"{text!r} is not a formula: {exc.msg}") from exc
    _check(tree.body, text)
    return tree.body


def _check(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaSyntaxError(f"{text!r}: only numbers may appear as constants")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _BINARY):
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, text)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("min", "max")
        and node.args
        and not node.keywords
    ):
        for arg in node.args:
            _check(arg, text)
    else:
        raise FormulaSyntaxError(
            f"{text!r}: {ast.unparse(node)!r} is not allowed; use numbers, measure "
            "names, + - * /, parentheses, min() and max()"
        )


def names(text: str) -> set[str]:
    """The measure or builtin names a formula reads."""
    tree = parse(text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called
    }


def evaluate(text: str, inputs: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    """The formula for every account; NaN where an input is missing or divisor 0."""
    values = _eval(parse(text), inputs, index)
    out = pd.Series(np.asarray(values, dtype=float), index=index)
    return out.where(np.isfinite(out))


def _eval(
    node: ast.expr, inputs: Mapping[str, pd.Series], index: pd.Index
) -> np.ndarray:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return np.full(len(index), float(node.value))
    if isinstance(node, ast.Name):
        return inputs[node.id].reindex(index).to_numpy(dtype=float)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, inputs, index)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, inputs, index)
        right = _eval(node.right, inputs, index)
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return np.where(right == 0, np.nan, left / np.where(right == 0, 1, right))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_eval(a, inputs, index) for a in node.args]
    # np.minimum / np.maximum propagate NaN: a missing input gives a missing value.
    combine = np.minimum if node.func.id == "min" else np.maximum
    result = args[0]
    for arg in args[1:]:
        result = combine(result, arg)
    return result
