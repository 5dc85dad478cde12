"""Tuning: fit a scorecard's weights and red threshold to the churn it should predict.

The model is the score itself: P(churn) = sigmoid(b - x . beta) with x the measure
points (0-100, divided by 100) that ``replay`` gives and beta >= 0, fitted by L2-
regularised logistic regression. beta / sum(beta) is each measure's share of the
score, which maps back to group weights times measure weights. The penalty is chosen
by time-ordered cross-validation: every training date precedes every test date and an
account in a test fold never trains. The red threshold captures a chosen share of the
churners, or else maximises Youden's J. The result is a draft scorecard (the user's
file edited in place, comments kept), a readable diff and the backtest of both.
"""

from __future__ import annotations

import difflib
import logging
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import minimize

from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.scorecard.io import ScorecardFile, parse_scorecard
from kenko.scorecard.model import Group, Scorecard
from kenko.settings import Settings
from kenko.store import Store
from kenko.validation.backtest import as_of_dates, backtest
from kenko.validation.metrics import roc_auc
from kenko.validation.outcomes import label_outcomes
from kenko.validation.replay import replay

log = logging.getLogger(__name__)

PENALTIES = (0.0001, 0.001, 0.01, 0.1, 1.0)
FOLDS = 3


# -- cross-validation splits --


@dataclass(frozen=True)
class Split:
    """Row positions that train and test one fold, and the dates on each side."""

    train: np.ndarray
    test: np.ndarray
    train_dates: list[date]
    test_dates: list[date]
    accounts: int  # the account group tested (0 .. groups - 1)


def time_splits(
    as_of: Sequence[date],
    account_id: Sequence[str],
    folds: int = FOLDS,
    groups: int = FOLDS,
) -> list[Split]:
    """Folds that test later dates on accounts the training never saw.

    The sorted dates are cut into ``folds + 1`` consecutive blocks
    (``numpy.array_split``) and the sorted account ids dealt into ``groups`` groups
    (the i-th id to group i mod ``groups``). Each block after the first and each
    group make a fold: it tests that block's rows of that group's accounts and trains
    on the earlier blocks' rows of every other account. So every training date
    precedes every test date and an account's rows are on one side only, while the
    training accounts are not just those that left before the test dates. Folds with
    no training or test row are left out.
    """
    days = np.asarray(as_of, dtype=object)
    ids = np.asarray(account_id, dtype=object)
    distinct = sorted(set(days.tolist()))
    blocks = [
        list(b) for b in np.array_split(np.array(distinct, dtype=object), folds + 1)
    ]
    group_of = {a: i % groups for i, a in enumerate(sorted(set(ids.tolist())))}
    group = np.array([group_of[a] for a in ids.tolist()])
    out = []
    for k in range(1, len(blocks)):
        if not blocks[k]:
            continue
        first_test = blocks[k][0]
        in_block = np.isin(days, np.array(blocks[k], dtype=object))
        before = np.array([d < first_test for d in days.tolist()], dtype=bool)
        for g in range(groups):
            test = np.flatnonzero(in_block & (group == g))
            train = np.flatnonzero(before & (group != g))
            if len(train) and len(test):
                train_dates = sorted(set(days[train].tolist()))
                out.append(Split(train, test, train_dates, list(blocks[k]), g))
    return out


# -- the optimiser --


@dataclass(frozen=True)
class LogisticFit:
    """P(churn) = sigmoid(intercept - x . coef), coef >= 0."""

    intercept: float
    coef: np.ndarray
    penalty: float
    loss: float  # mean log loss + penalty / 2 * |coef|^2 at the optimum
    converged: bool

    def churn_probability(self, x: np.ndarray) -> np.ndarray:
        z = self.intercept - x @ self.coef
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def health(self, x: np.ndarray) -> np.ndarray:
        """x . coef: higher means healthier (lower churn probability)."""
        return np.asarray(x @ self.coef)


def fit_nonnegative_logistic(
    x: np.ndarray, churned: np.ndarray, penalty: float
) -> LogisticFit:
    """Minimise mean log loss + penalty / 2 * |beta|^2 over beta >= 0 (intercept free).

    Rows of ``x`` are accounts, columns measures (points / 100); ``churned`` is 0/1.
    Solved with L-BFGS-B on the exact gradient; the problem is convex, so the
    optimum is unique when penalty > 0.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(churned, dtype=float)
    n, k = x.shape
    rate = min(max(y.mean(), 1e-6), 1 - 1e-6)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, beta = theta[0], theta[1:]
        z = b - x @ beta
        loss = np.logaddexp(0.0, z) - y * z
        residual = 1.0 / (1.0 + np.exp(-z)) - y  # d loss / d z
        value = loss.mean() + penalty / 2 * beta @ beta
        grad = np.empty(k + 1)
        grad[0] = residual.mean()
        grad[1:] = -(x.T @ residual) / n + penalty * beta
        return float(value), grad

    start = np.zeros(k + 1)
    start[0] = math.log(rate / (1 - rate))
    found = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None)] + [(0.0, None)] * k,
        options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14},
    )
    coef = np.maximum(found.x[1:], 0.0)
    return LogisticFit(
        float(found.x[0]), coef, penalty, float(found.fun), bool(found.success)
    )


def auc_of(health: np.ndarray, churned: np.ndarray) -> float | None:
    """P(a churner's health < a retained account's health), ties half."""
    auc = roc_auc(churned, -np.asarray(health, dtype=float))
    return None if math.isnan(auc) else auc


@dataclass(frozen=True)
class PenaltyScore:
    """Cross-validated figures of one penalty: means over the folds."""

    penalty: float
    log_loss: float
    auc: float | None


def choose_penalty(
    x: np.ndarray,
    churned: np.ndarray,
    splits: Sequence[Split],
    penalties: Sequence[float] = PENALTIES,
) -> tuple[float, list[PenaltyScore]]:
    """The penalty with the lowest mean test log loss (ties: the larger penalty)."""
    y = np.asarray(churned, dtype=float)
    scores = []
    for penalty in penalties:
        losses, aucs = [], []
        for s in splits:
            fit = fit_nonnegative_logistic(x[s.train], y[s.train], penalty)
            p = np.clip(fit.churn_probability(x[s.test]), 1e-12, 1 - 1e-12)
            t = y[s.test]
            losses.append(float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()))
            auc = auc_of(fit.health(x[s.test]), t)
            if auc is not None:
                aucs.append(auc)
        scores.append(
            PenaltyScore(
                penalty,
                float(np.mean(losses)) if losses else math.inf,
                float(np.mean(aucs)) if aucs else None,
            )
        )
    best = min(scores, key=lambda s: (round(s.log_loss, 12), -s.penalty))
    return best.penalty, scores


# -- thresholds --


@dataclass(frozen=True)
class RedThreshold:
    """Scores below ``below`` are red; the share of churners and of the rest caught."""

    below: float
    capture: float  # share of churners below the threshold (TPR)
    false_alarm: float  # share of retained accounts below it (FPR)
    rule: str  # "capture" or "youden"

    @property
    def youden_j(self) -> float:
        return self.capture - self.false_alarm


def red_threshold(
    score: np.ndarray, churned: np.ndarray, target_capture: float | None = None
) -> RedThreshold:
    """The red band's upper bound (exclusive) on the score, rounded to 0.1.

    With ``target_capture``: the lowest threshold under which at least that share of
    churners fall, i.e. 0.1 above the ceil(target x churners)-th lowest churner
    score. Else the threshold maximising Youden's J = capture - false alarm over
    "below each distinct score" and "below the top score + 0.1" (ties: the lowest).
    """
    s = np.round(np.asarray(score, dtype=float), 1)
    y = np.asarray(churned, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        raise TuneError(
            "a red threshold needs churned and retained accounts",
            fix="pick dates whose horizon has passed and that have churned accounts",
        )

    def at(t: float, rule: str) -> RedThreshold:
        return RedThreshold(
            round(t, 1),
            float((s[y] < t).sum() / n1),
            float((s[~y] < t).sum() / n0),
            rule,
        )

    if target_capture is not None:
        if not 0 < target_capture <= 1:
            raise TuneError(
                f"target_capture {target_capture} is not in (0, 1]",
                fix="give a share of churners above 0 and at most 1, e.g. 0.5",
            )
        k = math.ceil(target_capture * n1 - 1e-9)
        kth = float(np.sort(s[y])[k - 1])
        return at(kth + 0.1, "capture")
    candidates = [*np.unique(s).tolist(), float(s.max()) + 0.1]
    options = [at(t, "youden") for t in candidates]
    return max(options, key=lambda r: (round(r.youden_j, 12), -r.below))


# -- weights --


def draft_weights(
    groups: Sequence[Group], share: dict[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Group weights (percent of the score) and measure weights (percent of their
    group), from each measure's share of the score; both rounded to 0.1.

    A group left with no share gets weight 0 and keeps its measures' weights, so the
    scorecard stays valid and shows the measures as before.
    """
    group_w: dict[str, float] = {}
    measure_w: dict[str, float] = {}
    total = sum(share.values())
    for g in groups:
        names = [m.name for m in g.measures]
        g_share = sum(share.get(n, 0.0) for n in names) / total if total else 0.0
        group_w[g.name] = round(100 * g_share, 1)
        for m in g.measures:
            if group_w[g.name] > 0:
                within = share.get(m.name, 0.0) / (g_share * total)
                measure_w[m.name] = round(100 * within, 1)
            else:
                measure_w[m.name] = m.weight
    return group_w, measure_w


def scores_with(
    points: pd.DataFrame,
    groups: Sequence[Group],
    group_w: dict[str, float],
    measure_w: dict[str, float],
) -> np.ndarray:
    """The score from points under other weights, renormalised as ``score_accounts``
    does: missing points leave their measure (and an empty group) out."""
    group_scores, group_weights = [], []
    for g in groups:
        names = [m.name for m in g.measures if measure_w.get(m.name, 0) > 0]
        if not names or group_w.get(g.name, 0) <= 0:
            continue
        p = points[[f"points:{n}" for n in names]].to_numpy(dtype=float)
        w = np.array([measure_w[n] for n in names])
        counted = ~np.isnan(p)
        den = (counted * w).sum(axis=1)
        num = (np.nan_to_num(p) * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            group_scores.append(np.where(den > 0, num / den, np.nan))
        group_weights.append(group_w[g.name])
    if not group_scores:
        return np.full(len(points), np.nan)
    gs = np.stack(group_scores, axis=1)
    gw = np.where(np.isnan(gs), 0.0, np.array(group_weights))
    den = gw.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, (gw * np.nan_to_num(gs)).sum(axis=1) / den, np.nan)
    return np.round(score, 1)


def _filled(points: pd.DataFrame, groups: Sequence[Group]) -> pd.DataFrame:
    """Missing points filled as the score's renormalising treats them: with the mean
    of the row's other points in the group, else of all its points, else 50."""
    out = points.copy()
    row_mean = points.mean(axis=1)
    for g in groups:
        cols = [f"points:{m.name}" for m in g.measures if f"points:{m.name}" in points]
        if not cols:
            continue
        group_mean = points[cols].mean(axis=1).fillna(row_mean).fillna(50.0)
        for c in cols:
            out[c] = points[c].fillna(group_mean)
    return out


# -- the draft scorecard file --


def edit_scorecard_text(
    text: str,
    group_w: dict[str, float],
    measure_w: dict[str, float],
    red_below: float | None,
    header: Sequence[str] = (),
) -> str:
    """The scorecard text with new default-variant weights and red bound, comments
    kept: each value is replaced where it stands (found through YAML node marks);
    a missing ``weight`` is added after the ``name``. ``header`` lines go on top as
    comments.

    Raises ValueError when the file's layout leaves no place to edit.
    """
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the scorecard is not a mapping")
    edits: list[tuple[int, int, str]] = []  # (start, end, new text)

    groups = _value(root, "groups")
    if not isinstance(groups, yaml.SequenceNode):
        raise ValueError("groups is not a list")
    for gnode in groups.value:
        name = _scalar(_value(gnode, "name"))
        if name in group_w:
            edits.append(_set(text, gnode, "weight", group_w[name]))
        measures = _value(gnode, "measures")
        if not isinstance(measures, yaml.SequenceNode):
            raise ValueError(f"group {name}: measures is not a list")
        for mnode in measures.value:
            mname = _scalar(_value(mnode, "name"))
            if mname in measure_w:
                edits.append(_set(text, mnode, "weight", measure_w[mname]))

    if red_below is not None:
        bands = _value(root, "bands")
        if bands is None:
            edits.append((len(text), len(text), _default_bands_text(text, red_below)))
        elif isinstance(bands, yaml.SequenceNode) and bands.value:
            edits.append(_set(text, bands.value[0], "below", red_below))
        else:
            raise ValueError("bands is not a list")

    out = text
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        out = out[:start] + new + out[end:]
    if header:
        out = "".join(f"# {line}".rstrip() + "\n" for line in header) + "#\n" + out
    return out


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}".rstrip("0")


def _set(text: str, mapping: yaml.Node, key: str, value: float) -> tuple[int, int, str]:
    """An edit setting ``key`` of a mapping node: in place, or added after ``name``."""
    assert isinstance(mapping, yaml.MappingNode)
    current = _value(mapping, key)
    if isinstance(current, yaml.ScalarNode):
        return current.start_mark.index, current.end_mark.index, _number(value)
    name_key = next((k for k, _ in mapping.value if k.value == "name"), None)
    name_value = _value(mapping, "name")
    if name_key is None or name_value is None:
        raise ValueError(f"no name to put {key} after")
    at = name_value.end_mark.index
    if mapping.flow_style:
        return at, at, f", {key}: {_number(value)}"
    indent = " " * name_key.start_mark.column
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    return line_end, line_end, f"\n{indent}{key}: {_number(value)}"


def _default_bands_text(text: str, red_below: float) -> str:
    from kenko.scorecard.model import DEFAULT_BANDS

    lines = ["", "bands:"]
    for b in DEFAULT_BANDS:
        below = red_below if b is DEFAULT_BANDS[0] else b.below
        bound = "" if below is None else f", below: {_number(below)}"
        lines.append(f'  - {{name: {b.name}{bound}, color: "{b.color}"}}')
    return ("" if text.endswith("\n") else "\n") + "\n".join(lines)[1:] + "\n"


def clean_scorecard_text(scorecard: Scorecard, header: Sequence[str] = ()) -> str:
    """The scorecard as fresh YAML (comments of the original are lost)."""
    data = scorecard.model_dump(mode="json", exclude_defaults=True)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + body


# -- tune --


@dataclass(frozen=True)
class WeightChange:
    """One line of the readable diff: a weight or bound, current and draft."""

    what: str  # "group", "measure" or "band"
    name: str
    current: float | None
    draft: float | None
    share_current: float | None = None  # share of the score (measures, groups)
    share_draft: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "name": self.name,
            "current": self.current,
            "draft": self.draft,
            "share_current": self.share_current,
            "share_draft": self.share_draft,
        }


@dataclass
class TuneResult:
    """The fitted draft: weights, red threshold, cross-validation, file and backtest."""

    dates: list[date]
    horizon: str
    rows: int
    churned: int
    penalty: float
    cv: list[PenaltyScore]
    cv_auc_current: float | None  # the current score on the same test folds
    cv_auc_draft: float | None  # the score under each fold's fitted weights, there
    share: dict[str, float]  # measure -> fitted share of the score
    group_weights: dict[str, float]
    measure_weights: dict[str, float]
    red: RedThreshold
    draft: ScorecardFile
    kept_comments: bool
    changes: list[WeightChange]
    diff: str
    backtest: Any = None  # kenko.validation.backtest's result, draft vs current
    warnings: list[str] = field(default_factory=list)

    @property
    def cv_auc(self) -> float | None:
        chosen = next(s for s in self.cv if s.penalty == self.penalty)
        return chosen.auc


def tune(
    store: Store,
    scorecard: Scorecard | ScorecardFile,
    settings: Settings,
    dates: Sequence[date],
    horizon: str | Duration = "180d",
    *,
    target_capture: float | None = None,
    every: str | None = None,
    folds: int = FOLDS,
    penalties: Sequence[float] = PENALTIES,
    run_backtest: bool = True,
) -> TuneResult:
    """Fit the default variant's weights and red threshold on ``dates``.

    ``every`` (e.g. ``1mo``) is the step of the dates, for the backtest; by default it
    is read off the dates. Segment variants with their own groups are left as they
    are.
    """
    current = _as_file(scorecard)
    sc = current.scorecard
    dates = sorted(set(dates))
    horizon = Duration.parse(horizon)
    caveats: list[str] = []

    # Points of every measure on every date, with the churn labels.
    replayed = replay(store, sc, dates, settings, version=current.version)
    labels = label_outcomes(store, dates, horizon, settings).labels
    names = [m.name for g in sc.groups for m in g.measures]
    columns = [f"points:{n}" for n in names]
    rows = _labelled(replayed, labels, columns)
    y = rows["churned"].to_numpy(dtype=float)

    # Cross-validated penalty, then the fit on every row.
    usable = [c for c in columns if rows[c].notna().any()]
    x = _filled(rows[columns], sc.groups)[usable].to_numpy(dtype=float) / 100
    splits = time_splits(
        rows.index.get_level_values("as_of"),
        rows.index.get_level_values("account_id"),
        folds,
        folds,
    )
    if not splits:
        raise _tune_error(len(rows), int(y.sum()), dates=len(dates))
    penalty, cv = choose_penalty(x, y, splits, penalties)
    fit = fit_nonnegative_logistic(x, y, penalty)
    if not fit.converged:
        caveats.append("the optimiser stopped before converging; check the draft")
    cv_current = _mean_auc(rows["score"].to_numpy(dtype=float), y, splits)
    cv_draft = _cv_draft_auc(rows, x, y, usable, sc.groups, splits, penalty)

    # Weights and the red threshold of the draft.
    fitted = dict(zip(usable, fit.coef.tolist(), strict=True))
    total = sum(fitted.values())
    share = {n: fitted.get(f"points:{n}", 0.0) / total if total else 0.0 for n in names}
    if total <= 0:
        caveats.append(
            "no measure goes with renewals on these dates: every fitted weight is 0, "
            "so the draft keeps the current weights"
        )
        group_w = {g.name: g.weight for g in sc.groups}
        measure_w = {m.name: m.weight for g in sc.groups for m in g.measures}
    else:
        group_w, measure_w = draft_weights(sc.groups, share)
    draft_score = scores_with(rows, sc.groups, group_w, measure_w)
    ok = ~np.isnan(draft_score)
    red = red_threshold(draft_score[ok], y[ok].astype(bool), target_capture)
    red_below = _red_bound(sc, red.below)

    # The draft file and its diff.
    header = _header(dates, horizon, penalty, cv, red, target_capture)
    draft, kept = _draft_file(current, group_w, measure_w, red_below, header)
    if not kept:
        caveats.append(
            "the scorecard's layout could not be edited in place; the draft is clean "
            "YAML without the original comments"
        )
    result = TuneResult(
        dates=list(dates),
        horizon=str(horizon),
        rows=len(rows),
        churned=int(y.sum()),
        penalty=penalty,
        cv=cv,
        cv_auc_current=cv_current,
        cv_auc_draft=cv_draft,
        share=share,
        group_weights=group_w,
        measure_weights=measure_w,
        red=red,
        draft=draft,
        kept_comments=kept,
        changes=weight_changes(sc, draft.scorecard),
        diff=file_diff(current, draft),
        warnings=caveats,
    )

    # The backtest of the draft beside the current scorecard (same dates, accounts).
    if run_backtest:
        step = every or step_of(dates)
        if step is None:
            caveats.append(
                "the dates are not evenly stepped, so no backtest was run; "
                "pass every= (or --every) to get one"
            )
        else:
            result.backtest = _backtest(
                store, draft, current, settings, dates, step, horizon
            )
    log.info(
        "tuned %s on %d rows (%d churned): penalty %g, CV AUC %s",
        sc.name,
        len(rows),
        result.churned,
        penalty,
        result.cv_auc,
    )
    return result


def _as_file(scorecard: Scorecard | ScorecardFile) -> ScorecardFile:
    if isinstance(scorecard, ScorecardFile):
        return scorecard
    return parse_scorecard(clean_scorecard_text(scorecard))


def file_diff(current: ScorecardFile, draft: ScorecardFile) -> str:
    """A unified diff from the current scorecard's text to the draft's."""
    return "".join(
        difflib.unified_diff(
            current.text.splitlines(keepends=True),
            draft.text.splitlines(keepends=True),
            fromfile=str(current.path or "scorecard.yaml"),
            tofile="draft.yaml",
        )
    )


def _labelled(
    replayed: pd.DataFrame, labels: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """Replayed rows with a churn label and some points, by date then account.

    Raises TuneError unless both churned and retained rows remain.
    """
    r = replayed.reset_index()
    r["as_of"] = pd.to_datetime(r["as_of"]).dt.date
    r["account_id"] = r["account_id"].astype(str)
    lab = labels[["account_id", "as_of", "churned"]].copy()
    lab["as_of"] = pd.to_datetime(lab["as_of"]).dt.date
    lab["account_id"] = lab["account_id"].astype(str)
    out = r.merge(lab, on=["account_id", "as_of"], how="inner")
    out = out.sort_values(["as_of", "account_id"], kind="stable")
    out = out.set_index(["account_id", "as_of"])
    out = out[out[columns].notna().any(axis=1)]
    churned = int(out["churned"].sum())
    if churned == 0 or churned == len(out):
        raise _tune_error(len(out), churned)
    return out


class TuneError(KenkoError, ValueError):
    """The dates give nothing to fit: no churn, no retained accounts or no fold."""


def _tune_error(rows: int, churned: int, dates: int | None = None) -> TuneError:
    if dates is not None:
        return TuneError(
            f"{dates} as-of date(s) leave no time-ordered fold to cross-validate on",
            fix="tune over more dates (e.g. --every 1mo over a year)",
        )
    return TuneError(
        f"{rows} labelled account-dates, {churned} of them churned: nothing to fit",
        fix="pick dates whose horizon has passed and that have churned accounts",
    )


def _mean_auc(
    score: np.ndarray, churned: np.ndarray, splits: Sequence[Split]
) -> float | None:
    """The current score's AUC on each test fold (scored rows), averaged."""
    aucs = []
    for s in splits:
        part = score[s.test]
        ok = ~np.isnan(part)
        auc = auc_of(part[ok], churned[s.test][ok])
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs)) if aucs else None


def _cv_draft_auc(
    rows: pd.DataFrame,
    x: np.ndarray,
    churned: np.ndarray,
    usable: list[str],
    groups: Sequence[Group],
    splits: Sequence[Split],
    penalty: float,
) -> float | None:
    """The draft score's AUC on each test fold, with the weights fitted on its
    training rows and the score renormalised as kenko scores; averaged."""
    aucs = []
    for s in splits:
        fit = fit_nonnegative_logistic(x[s.train], churned[s.train], penalty)
        total = float(fit.coef.sum())
        if total <= 0:
            continue
        share = {
            c.removeprefix("points:"): b / total
            for c, b in zip(usable, fit.coef.tolist(), strict=True)
        }
        group_w, measure_w = draft_weights(groups, share)
        score = scores_with(rows.iloc[s.test], groups, group_w, measure_w)
        ok = ~np.isnan(score)
        auc = auc_of(score[ok], churned[s.test][ok])
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs)) if aucs else None


def _red_bound(sc: Scorecard, below: float) -> float:
    """The red bound, kept under the next band's bound so the bands stay ordered."""
    if len(sc.bands) < 2 or sc.bands[1].below is None:
        return below
    return min(below, sc.bands[1].below - 0.1)


def _header(
    dates: Sequence[date],
    horizon: Duration,
    penalty: float,
    cv: Sequence[PenaltyScore],
    red: RedThreshold,
    target_capture: float | None,
) -> list[str]:
    chosen = next(s for s in cv if s.penalty == penalty)
    auc = "n/a" if chosen.auc is None else f"{chosen.auc:.3f}"
    rule = (
        f"captures {target_capture:.0%} of churners"
        if target_capture is not None
        else "maximises Youden's J"
    )
    text = (
        f"Draft from `kenko tune`: {len(dates)} as-of dates {dates[0]} .. {dates[-1]}, "
        f"churn within {horizon}. Weights: non-negative logistic regression on the "
        f"measure points, L2 penalty {penalty:g} chosen by time-ordered "
        f"cross-validation (test AUC {auc}). Red below {red.below:g} {rule} "
        f"(capture {red.capture:.3f}, false alarms {red.false_alarm:.3f}). "
        "Backtest before applying."
    )
    return textwrap.wrap(text, 84)


def _draft_file(
    current: ScorecardFile,
    group_w: dict[str, float],
    measure_w: dict[str, float],
    red_below: float,
    header: Sequence[str],
) -> tuple[ScorecardFile, bool]:
    """The draft parsed back; edited in place when it gives the intended weights."""
    try:
        text = edit_scorecard_text(current.text, group_w, measure_w, red_below, header)
        draft = parse_scorecard(text)
        if _weights_match(draft.scorecard, group_w, measure_w, red_below):
            return draft, True
    except (ValueError, yaml.YAMLError) as exc:
        log.warning("scorecard not editable in place (%s); writing clean YAML", exc)
    sc = current.scorecard.model_copy(deep=True)
    for g in sc.groups:
        g.weight = group_w[g.name]
        for m in g.measures:
            m.weight = measure_w[m.name]
    sc.bands[0].below = red_below
    return parse_scorecard(clean_scorecard_text(sc, header)), False


def _weights_match(
    sc: Scorecard,
    group_w: dict[str, float],
    measure_w: dict[str, float],
    red_below: float,
) -> bool:
    return (
        all(g.weight == group_w[g.name] for g in sc.groups)
        and all(m.weight == measure_w[m.name] for g in sc.groups for m in g.measures)
        and sc.bands[0].below == red_below
    )


def _shares(sc: Scorecard) -> tuple[dict[str, float], dict[str, float]]:
    """(group -> share of the score, measure -> share of the score), nominal."""
    total = sum(g.weight for g in sc.groups)
    groups, measures = {}, {}
    for g in sc.groups:
        groups[g.name] = g.weight / total if total else 0.0
        inner = sum(m.weight for m in g.measures)
        for m in g.measures:
            measures[m.name] = groups[g.name] * m.weight / inner if inner else 0.0
    return groups, measures


def weight_changes(current: Scorecard, draft: Scorecard) -> list[WeightChange]:
    """Every group weight, measure weight and band bound, current beside draft."""
    cg, cm = _shares(current)
    dg, dm = _shares(draft)
    out = []
    draft_groups = {g.name: g for g in draft.groups}
    for g in current.groups:
        new = draft_groups.get(g.name)
        out.append(
            WeightChange(
                "group",
                g.name,
                g.weight,
                new.weight if new else None,
                round(cg[g.name], 4),
                round(dg.get(g.name, 0.0), 4),
            )
        )
        draft_measures = {m.name: m for m in new.measures} if new else {}
        for m in g.measures:
            nm = draft_measures.get(m.name)
            out.append(
                WeightChange(
                    "measure",
                    m.name,
                    m.weight,
                    nm.weight if nm else None,
                    round(cm[m.name], 4),
                    round(dm.get(m.name, 0.0), 4),
                )
            )
    for b, nb in zip(current.bands, draft.bands, strict=False):
        if b.below is not None or nb.below is not None:
            out.append(WeightChange("band", b.name, b.below, nb.below))
    return out


def step_of(dates: Sequence[date]) -> str | None:
    """The step ("1mo", "7d", ...) that lays out ``dates`` from the first, if any."""
    days = sorted(set(dates))
    if len(days) < 2:
        return None
    gap = (days[1] - days[0]).days
    for step in ("1mo", "3mo", "1y", "1w", f"{gap}d"):
        if as_of_dates(days[0], days[-1], step) == days:
            return step
    return None


def _backtest(
    store: Store,
    draft: ScorecardFile,
    current: ScorecardFile,
    settings: Settings,
    dates: Sequence[date],
    every: str,
    horizon: Duration,
) -> Any:
    """The backtest of the draft, with the current scorecard as ``compare``."""
    return backtest(
        store,
        draft.scorecard,
        settings,
        dates[0],
        dates[-1],
        every,
        str(horizon),
        compare=current.scorecard,
        version=draft.version,
    )
