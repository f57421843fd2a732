"""Turning votes into evidence: MOS with confidence intervals, win rates, Bradley-Terry,
inter-rater agreement, significance tests and rater quality control.

Every function takes the vote table of ``RatingStore.votes_frame()`` (columns
``VOTE_COLUMNS``): MOS votes have ``protocol == "mos"``, the model in ``model_a`` and a
``score`` 1..5; pairwise votes have ``protocol == "pair"``, the left model in ``model_a``, the
right one in ``model_b`` and a ``choice`` in left / right / tie.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from srcore.rating.stimuli import ANCHORS, BLURRED, DEGRADED, MODEL_KEYS

VOTE_COLUMNS = [
    "vote_id",
    "rater_id",
    "protocol",
    "image_id",
    "model_a",
    "model_b",
    "score",
    "choice",
    "created",
    "elapsed_s",
    "token",
    "flags",
    "kind",
    "participant",
    "invited",
]
MODEL_ORDER = MODEL_KEYS
LOW_ANCHOR, HIGH_ANCHOR = ANCHORS


def _order(models) -> list[str]:
    models = [m for m in pd.unique(pd.Series(list(models))) if isinstance(m, str)]
    known = [m for m in MODEL_ORDER if m in models]
    return known + sorted(m for m in models if m not in MODEL_ORDER)


def mos_votes(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["protocol"] == "mos"]
    return pd.DataFrame(
        {
            "rater_id": d["rater_id"].values,
            "image_id": d["image_id"].values,
            "model": d["model_a"].values,
            "score": d["score"].astype(float).values,
        }
    )


def pair_votes(df: pd.DataFrame) -> pd.DataFrame:
    """Pairwise votes as (winner, loser, tie) rows; for a tie winner/loser are left/right."""
    d = df[df["protocol"] == "pair"]
    left, right, ch = d["model_a"].values, d["model_b"].values, d["choice"].values
    winner = np.where(ch == "right", right, left)
    loser = np.where(ch == "right", left, right)
    return pd.DataFrame(
        {
            "rater_id": d["rater_id"].values,
            "image_id": d["image_id"].values,
            "winner": winner,
            "loser": loser,
            "tie": ch == "tie",
        }
    )


# ----------------------------------------------------------------------------- MOS


def mean_ci(x, level: float = 0.95) -> tuple[float, float, float, float, int]:
    """(mean, sd, low, high, n) with a Student-t interval; NaN bounds when n < 2."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return (np.nan, np.nan, np.nan, np.nan, 0)
    m = float(x.mean())
    if n < 2:
        return (m, np.nan, np.nan, np.nan, 1)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    return (m, sd, m - half, m + half, n)


def _mos_rows(groups, level: float = 0.95) -> pd.DataFrame:
    rows = []
    for key, g in groups:
        m, sd, lo, hi, n = mean_ci(g["score"], level)
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, n, m, sd, lo, hi))
    return rows


def mos_table(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """MOS per model: n, mean, sd and the t-interval bounds ``ci_low``/``ci_high``."""
    v = mos_votes(df)
    cols = ["model", "n", "mos", "sd", "ci_low", "ci_high"]
    if v.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(_mos_rows(v.groupby("model"), level), columns=cols)
    order = _order(out["model"])
    return out.set_index("model").loc[order].reset_index()


def mos_per_image(df: pd.DataFrame) -> pd.DataFrame:
    """MOS per image and model with t-intervals."""
    v = mos_votes(df)
    cols = ["image_id", "model", "n", "mos", "sd", "ci_low", "ci_high"]
    if v.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(_mos_rows(v.groupby(["image_id", "model"])), columns=cols)
    rank = {m: i for i, m in enumerate(_order(out["model"]))}
    return out.sort_values(["image_id", "model"], key=lambda s: s.map(rank) if s.name == "model" else s).reset_index(
        drop=True
    )


# ----------------------------------------------------------------------------- pairwise


def win_counts(df: pd.DataFrame, models=None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(models, W, N): W[i, j] = wins of i over j with ties as half a win each; N[i, j] = comparisons."""
    p = pair_votes(df)
    models = list(models) if models is not None else _order(list(p["winner"]) + list(p["loser"]))
    idx = {m: i for i, m in enumerate(models)}
    k = len(models)
    W, N = np.zeros((k, k)), np.zeros((k, k))
    for w, lo, t in zip(p["winner"], p["loser"], p["tie"]):
        if w not in idx or lo not in idx:
            continue
        i, j = idx[w], idx[lo]
        N[i, j] += 1
        N[j, i] += 1
        if t:
            W[i, j] += 0.5
            W[j, i] += 0.5
        else:
            W[i, j] += 1
    return models, W, N


def win_rate_matrix(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rates, counts): rates[row][col] = share of row-vs-col comparisons row won (ties = 1/2)."""
    models, W, N = win_counts(df)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.where(N > 0, W / np.where(N > 0, N, 1), np.nan)
    return (pd.DataFrame(R, index=models, columns=models), pd.DataFrame(N.astype(int), index=models, columns=models))


def bt_fit(W: np.ndarray, N: np.ndarray, prior: float = 0.1, iters: int = 10_000, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry log-strengths (mean 0) by Hunter's MM algorithm.

    ``W[i, j]`` wins of i over j (ties counted as half a win each way), ``N`` comparisons.
    ``prior`` pseudo-wins each way on every compared pair keep an undefeated or winless model finite.
    """
    k = len(W)
    if k == 0:
        return np.zeros(0)
    W = W + prior * (N > 0)
    N = N + 2 * prior * (N > 0)
    wins = W.sum(axis=1)
    p = np.ones(k)
    for _ in range(iters):
        denom = (N / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, wins / np.where(denom > 0, denom, 1), p)
        new = np.maximum(new, 1e-300)
        new /= np.exp(np.mean(np.log(new)))
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    theta = np.log(p)
    return theta - theta.mean()


def bradley_terry(
    df: pd.DataFrame, n_boot: int = 200, level: float = 0.95, seed: int = 0, prior: float = 0.1
) -> pd.DataFrame:
    """Bradley-Terry score per model (log-strength, mean 0; P(i beats j) = 1/(1+e^(s_j - s_i)))
    with percentile bootstrap intervals (votes resampled with replacement)."""
    cols = ["model", "n", "score", "ci_low", "ci_high", "p_beats_average"]
    p = pair_votes(df)
    if p.empty:
        return pd.DataFrame(columns=cols)
    models, W, N = win_counts(df)
    theta = bt_fit(W, N, prior)
    rng = np.random.default_rng(seed)
    idx = {m: i for i, m in enumerate(models)}
    wi = p["winner"].map(idx).to_numpy()
    li = p["loser"].map(idx).to_numpy()
    tie = p["tie"].to_numpy(bool)
    k, n = len(models), len(p)
    boots = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        s = rng.integers(0, n, n)
        Wb, Nb = np.zeros((k, k)), np.zeros((k, k))
        np.add.at(Nb, (wi[s], li[s]), 1)
        np.add.at(Nb, (li[s], wi[s]), 1)
        np.add.at(Wb, (wi[s], li[s]), np.where(tie[s], 0.5, 1.0))
        np.add.at(Wb, (li[s], wi[s]), np.where(tie[s], 0.5, 0.0))
        boots[b] = bt_fit(Wb, Nb, prior, iters=2000, tol=1e-8)
    a = (1 - level) / 2
    lo = np.nanquantile(boots, a, axis=0) if n_boot else np.full(k, np.nan)
    hi = np.nanquantile(boots, 1 - a, axis=0) if n_boot else np.full(k, np.nan)
    return pd.DataFrame(
        {
            "model": models,
            "n": N.sum(axis=1).astype(int),
            "score": theta,
            "ci_low": lo,
            "ci_high": hi,
            "p_beats_average": 1 / (1 + np.exp(-theta)),
        },
        columns=cols,
    )


# ----------------------------------------------------------------------------- agreement


def krippendorff_alpha(units: dict | list, metric: str = "interval") -> float:
    """Krippendorff's alpha for ``units``: a list (or dict values) of lists of the values the
    raters gave to one unit (missing values simply left out).  ``metric``: nominal, ordinal, interval."""
    groups = [
        np.asarray([x for x in u if x is not None and not (isinstance(x, float) and np.isnan(x))])
        for u in (units.values() if isinstance(units, dict) else units)
    ]
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        return float("nan")
    values = sorted(set(itertools.chain.from_iterable(g.tolist() for g in groups)))
    vidx = {v: i for i, v in enumerate(values)}
    V = len(values)
    o = np.zeros((V, V))  # coincidence matrix
    for g in groups:
        m = len(g)
        ids = np.array([vidx[x] for x in g.tolist()])
        cnt = np.bincount(ids, minlength=V).astype(float)
        o += (np.outer(cnt, cnt) - np.diag(cnt)) / (m - 1)
    nc = o.sum(axis=1)
    n = nc.sum()
    if metric == "nominal":
        d2 = 1.0 - np.eye(V)
    elif metric == "interval":
        vals = np.asarray(values, dtype=float)
        d2 = (vals[:, None] - vals[None, :]) ** 2
    elif metric == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(nc)])
        d2 = np.zeros((V, V))
        for c in range(V):
            for k in range(V):
                lo, hi = min(c, k), max(c, k)
                d2[c, k] = (cum[hi + 1] - cum[lo] - (nc[c] + nc[k]) / 2) ** 2
    else:
        raise ValueError(f"unknown metric {metric!r}; use nominal, ordinal or interval")
    Do = (o * d2).sum() / n
    De = (np.outer(nc, nc) * d2).sum() / (n * (n - 1))
    if De == 0:
        return 1.0 if Do == 0 else float("nan")
    return float(1 - Do / De)


def agreement(df: pd.DataFrame) -> pd.DataFrame:
    """Krippendorff's alpha for MOS scores (units: image x model; ordinal and interval) and
    for pairwise choices (units: image x pair; nominal over first-model / second-model / tie)."""
    rows = []
    v = mos_votes(df)
    if not v.empty:
        units = [g.groupby("rater_id")["score"].mean().tolist() for _, g in v.groupby(["image_id", "model"])]
        nu = sum(len(u) >= 2 for u in units)
        for metric in ("ordinal", "interval"):
            rows.append(
                (
                    "mos",
                    f"Krippendorff alpha ({metric})",
                    krippendorff_alpha(units, metric),
                    nu,
                    v["rater_id"].nunique(),
                )
            )
    p = pair_votes(df)
    if not p.empty:
        a, b = np.minimum(p["winner"], p["loser"]), np.maximum(p["winner"], p["loser"])
        val = np.where(p["tie"], 0, np.where(p["winner"] == a, 1, 2))
        q = pd.DataFrame({"unit": p["image_id"] + "|" + a + "|" + b, "rater_id": p["rater_id"], "val": val})
        units = [g.groupby("rater_id")["val"].first().tolist() for _, g in q.groupby("unit")]
        nu = sum(len(u) >= 2 for u in units)
        rows.append(
            ("pair", "Krippendorff alpha (nominal)", krippendorff_alpha(units, "nominal"), nu, p["rater_id"].nunique())
        )
    return pd.DataFrame(rows, columns=["protocol", "statistic", "value", "units_with_2plus_raters", "raters"])


# ----------------------------------------------------------------------------- significance


def holm(pvals) -> np.ndarray:
    p = np.asarray(pvals, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    order = np.argsort(q)
    m = len(q)
    adj = np.empty(m)
    running = 0.0
    for r, i in enumerate(order):
        running = max(running, (m - r) * q[i])
        adj[i] = min(1.0, running)
    out[ok] = adj
    return out


def significance(df: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Each pair of models: MOS by a Wilcoxon signed-rank test on paired differences (the same
    rater on the same image, scores averaged), pairwise votes by a two-sided sign (binomial)
    test of wins against losses (ties dropped).  ``p_holm``: Holm-corrected within a protocol."""
    cols = ["protocol", "model_a", "model_b", "n", "effect", "effect_meaning", "p", "p_holm", "significant"]
    rows = []
    v = mos_votes(df)
    if not v.empty:
        piv = v.groupby(["rater_id", "image_id", "model"])["score"].mean().unstack("model")
        for a, b in itertools.combinations(_order(piv.columns), 2):
            d = (piv[a] - piv[b]).dropna().to_numpy()
            n = len(d)
            p = np.nan
            if n >= 1 and np.any(d != 0):
                try:
                    p = float(sps.wilcoxon(d, zero_method="wilcox").pvalue)
                except ValueError:
                    p = np.nan
            elif n >= 1:
                p = 1.0
            rows.append(["mos", a, b, n, float(d.mean()) if n else np.nan, "mean score difference (a - b)", p])
    pv = pair_votes(df)
    if not pv.empty:
        models, W, N = win_counts(df)
        idx = {m: i for i, m in enumerate(models)}
        for a, b in itertools.combinations(models, 2):
            sub = pv[((pv["winner"] == a) & (pv["loser"] == b)) | ((pv["winner"] == b) & (pv["loser"] == a))]
            if sub.empty:
                continue
            dec = sub[~sub["tie"]]
            wa = int((dec["winner"] == a).sum())
            nd = len(dec)
            p = float(sps.binomtest(wa, nd, 0.5).pvalue) if nd else 1.0
            i, j = idx[a], idx[b]
            rows.append(["pair", a, b, len(sub), W[i, j] / N[i, j], "win rate of a over b (ties = 1/2)", p])
    out = pd.DataFrame(rows, columns=cols[:7])
    out["p_holm"] = np.nan
    for proto in out["protocol"].unique():
        m = out["protocol"] == proto
        out.loc[m, "p_holm"] = holm(out.loc[m, "p"])
    out["significant"] = out["p_holm"] < alpha
    return out[cols]


# ----------------------------------------------------------------------------- quality control


def test_votes(df: pd.DataFrame) -> pd.DataFrame:
    """The votes on real stimuli (attention checks removed): what the statistics are made of."""
    if "kind" not in df:
        return df
    kind = df["kind"].astype(object)
    return df[kind.isna() | (kind == "test")]


def _attention(df: pd.DataFrame, kind: str = "attention") -> dict[str, list[int]]:
    """Per rater: [checks answered, failed], for the attention checks (``kind`` "attention": the
    degraded crop scored 3 or more, or in pairs the degraded side chosen or "can't tell") or the
    gold items (``kind`` "gold": the blurred original scored 4 or more, or in pairs not the original)."""
    out: dict[str, list[int]] = {}
    if "kind" not in df:
        return out
    d = df[df["kind"] == kind]
    bad = DEGRADED if kind == "attention" else BLURRED
    for rid, proto, a, _b, score, choice in zip(
        d["rater_id"], d["protocol"], d["model_a"], d["model_b"], d["score"], d["choice"]
    ):
        if proto == "mos":
            failed = float(score) >= (3 if kind == "attention" else 4)
        else:
            good = "left" if a != bad else "right"
            failed = choice != good
        c = out.setdefault(rid, [0, 0])
        c[0] += 1
        c[1] += int(failed)
    return out


def _answer_value(df: pd.DataFrame) -> pd.Series:
    """One comparable answer per vote: the MOS score, or for pairs the model chosen ("tie" for a tie)."""
    chosen = np.where(df["choice"] == "left", df["model_a"], np.where(df["choice"] == "right", df["model_b"], "tie"))
    return pd.Series(np.where(df["protocol"] == "mos", df["score"].astype(object), chosen), index=df.index)


def _unit(df: pd.DataFrame) -> pd.Series:
    """What was rated, order-free: protocol, image and model(s)."""
    a, b = df["model_a"].astype(str), df["model_b"].fillna("").astype(str)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return df["protocol"] + "|" + df["image_id"] + "|" + lo + "|" + hi


def repeat_consistency(df: pd.DataFrame) -> dict[str, tuple[int, float]]:
    """Per rater: (repeated items answered, inconsistency): for MOS the mean absolute difference
    between the two scores, for pairs the share of repeats where another model (or a tie) was chosen;
    the larger of the two when a rater did both."""
    if "kind" not in df or not (df["kind"] == "repeat").any():
        return {}
    d = df[df["kind"].isin(["test", "repeat"])].copy()
    d["unit"], d["answer"] = _unit(d), _answer_value(d)
    out: dict[str, tuple[int, float]] = {}
    for rid, g in d.groupby("rater_id"):
        first = g[g["kind"] == "test"].drop_duplicates("unit").set_index("unit")["answer"]
        rep = g[g["kind"] == "repeat"]
        diffs: dict[str, list[float]] = {"mos": [], "pair": []}
        for unit, proto, ans in zip(rep["unit"], rep["protocol"], rep["answer"]):
            if unit in first.index:
                orig = first[unit]
                diffs[proto].append(abs(float(ans) - float(orig)) if proto == "mos" else float(ans != orig))
        n = len(diffs["mos"]) + len(diffs["pair"])
        if n:
            worst = max((float(np.mean(v)) / (2.0 if p == "mos" else 1.0)) for p, v in diffs.items() if v)
            out[str(rid)] = (n, worst)
    return out


def consensus_deviation(
    df: pd.DataFrame, min_units: int = 3, min_others: int = 3, reference=None
) -> dict[str, tuple[float, float, int]]:
    """Per rater, against the leave-one-out consensus (the other raters' answers on the same image
    and version; ``reference``: only these raters make the consensus, e.g. those who passed every
    other check, so a crowd of scripts cannot define it): (correlation of the rater's MOS scores
    with the others' means, the largest mean deviation on one version in score points - for pairs
    twice the win-share difference -, units compared).  Deviation is what a rater who pushes one
    version shows, whatever else they answer.  Only units that at least ``min_others`` other
    raters answered count (a consensus of one or two is no consensus)."""
    out: dict[str, tuple[float, float, int]] = {}
    v = mos_votes(df)
    if not v.empty:
        cell = v.groupby(["image_id", "model", "rater_id"])["score"].mean().rename("own").reset_index()
        in_ref = cell["rater_id"].isin(set(reference)) if reference is not None else pd.Series(True, index=cell.index)
        ref = cell[in_ref].groupby(["image_id", "model"])["own"].agg(["sum", "count"]).reset_index()
        cell = cell.merge(ref, on=["image_id", "model"], how="left").fillna({"sum": 0.0, "count": 0})
        cell["n_others"] = cell["count"] - in_ref.to_numpy()
        cell["others"] = (cell["sum"] - cell["own"] * in_ref.to_numpy()) / cell["n_others"].where(cell["n_others"] > 0)
        cell = cell[cell["n_others"] >= min_others]
        for rid, g in cell.groupby("rater_id"):
            if len(g) < min_units:
                continue
            r = float(np.corrcoef(g["own"], g["others"])[0, 1]) if g["own"].std() > 0 and g["others"].std() > 0 else 0.0
            dev = (g["own"] - g["others"]).groupby(g["model"]).agg(["mean", "count"])
            dev = dev[dev["count"] >= min_units]
            worst = float(dev["mean"].abs().max()) if len(dev) else 0.0
            out[str(rid)] = (r, worst, len(g))
    p = pair_votes(df)
    if not p.empty:
        rows = []
        for rid, w, lo, t in zip(p["rater_id"], p["winner"], p["loser"], p["tie"]):
            rows.append((rid, w, 0.5 if t else 1.0))
            rows.append((rid, lo, 0.5 if t else 0.0))
        q = pd.DataFrame(rows, columns=["rater_id", "model", "win"])
        refq = q[q["rater_id"].isin(set(reference))] if reference is not None else q
        tot = refq.groupby("model")["win"].agg(["sum", "count"])
        for rid, g in q.groupby("rater_id"):
            own = g.groupby("model")["win"].agg(["sum", "count"])
            mine = reference is None or rid in set(reference)
            o_sum = tot["sum"].reindex(own.index).fillna(0) - (own["sum"] if mine else 0)
            o_n = tot["count"].reindex(own.index).fillna(0) - (own["count"] if mine else 0)
            keep = (own["count"] >= min_units) & (o_n >= min_units)
            if not keep.any():
                continue
            worst = float((own["sum"][keep] / own["count"][keep] - o_sum[keep] / o_n[keep]).abs().max())
            r0, w0, n0 = out.get(str(rid), (np.nan, 0.0, 0))
            out[str(rid)] = (r0, max(w0, 2 * worst), n0 + int(own["count"].sum()))
    return out


def _entropy(answers: pd.Series, k: int) -> float:
    """Shannon entropy of the answers relative to the most a ``k``-answer scale allows (0..1)."""
    p = answers.astype(str).value_counts(normalize=True).to_numpy()
    return float(-(p * np.log(p)).sum() / np.log(k)) if len(p) > 1 else 0.0


QC_COLUMNS = [
    "rater_id",
    "votes",
    "attention_checks",
    "attention_failed",
    "gold_items",
    "gold_failed",
    "repeats",
    "inconsistency",
    "median_s",
    "time_cv",
    "entropy",
    "consensus_r",
    "max_deviation",
    "anchor_comparisons",
    "bicubic_above_hr",
    "share",
    "flagged",
    "reason",
]


def rater_quality(
    df: pd.DataFrame,
    min_comparisons: int = 1,
    threshold: float = 0.5,
    speeder_s: float = 1.0,
    min_speed_votes: int = 5,
    straight_share: float = 0.9,
    min_straight_votes: int = 10,
    attention_fail_share: float = 1 / 3,
    pacing_cv: float = 0.15,
    min_pacing_votes: int = 8,
    min_entropy: float = 0.35,
    max_inconsistency: float = 0.5,
    max_deviation: float = 1.5,
    min_consensus_units: int = 8,
) -> pd.DataFrame:
    """Quality control per rater; ``flagged`` with every ``reason`` that applies:

    - attention checks / gold items: failed more than ``attention_fail_share`` of them (and at least one);
    - speeder: median seconds per vote below ``speeder_s`` over at least ``min_speed_votes`` votes;
    - machine-like pacing: response times whose coefficient of variation is below ``pacing_cv``
      over at least ``min_pacing_votes`` votes (people vary far more: some items take longer);
    - straight-liner: one answer in at least ``straight_share`` of at least ``min_straight_votes``
      votes of a task, or answers whose entropy is below ``min_entropy`` of the scale's maximum;
    - inconsistent: repeated items answered differently (MOS: a mean difference of more than
      ``2 * max_inconsistency`` points; pairs: another choice in more than ``max_inconsistency``);
    - consensus: one version scored ``max_deviation`` points (or win-share equivalent) away from the
      leave-one-out consensus of the other raters, or scores anti-correlated with it over at least
      ``min_consensus_units`` units;
    - anchors: bicubic above HR (both MOS scores of an image, or a pairwise vote between them) in
      more than ``threshold`` of at least ``min_comparisons`` comparisons;
    - "exclude" in the rater's stored flags (the organiser's decision)."""
    counts: dict[str, list[int]] = {}
    t = test_votes(df)
    v = mos_votes(t)
    if not v.empty:
        piv = (
            v[v["model"].isin([LOW_ANCHOR, HIGH_ANCHOR])]
            .groupby(["rater_id", "image_id", "model"])["score"]
            .mean()
            .unstack("model")
        )
        if LOW_ANCHOR in piv and HIGH_ANCHOR in piv:
            piv = piv.dropna(subset=[LOW_ANCHOR, HIGH_ANCHOR])
            for (rid, _), r in piv.iterrows():
                c = counts.setdefault(rid, [0, 0])
                c[0] += 1
                c[1] += int(r[LOW_ANCHOR] > r[HIGH_ANCHOR])
    p = pair_votes(t)
    if not p.empty:
        anchor = p[p["winner"].isin([LOW_ANCHOR, HIGH_ANCHOR]) & p["loser"].isin([LOW_ANCHOR, HIGH_ANCHOR])]
        for rid, w, tie in zip(anchor["rater_id"], anchor["winner"], anchor["tie"]):
            c = counts.setdefault(rid, [0, 0])
            c[0] += 1
            c[1] += int(w == LOW_ANCHOR and not tie)
    att, gold = _attention(df), _attention(df, "gold")
    reps = repeat_consistency(df)
    raters = list(pd.unique(df["rater_id"])) if len(df) else []
    manual = {}
    if "flags" in df:
        manual = {r: str(f or "") for r, f in zip(df["rater_id"], df["flags"])}
    rows = []
    counted = df[df["kind"] != "practice"] if "kind" in df else df
    votes_per_rater = counted["rater_id"].value_counts() if len(counted) else pd.Series(dtype=int)
    for rid in raters:
        mine = counted[counted["rater_id"] == rid]
        reasons = []
        n_att, failed = att.get(rid, [0, 0])
        if failed and failed / n_att > attention_fail_share:
            reasons.append(f"failed {failed} of {n_att} attention checks")
        n_gold, gold_failed = gold.get(rid, [0, 0])
        if gold_failed and gold_failed / n_gold > attention_fail_share:
            reasons.append(f"failed {gold_failed} of {n_gold} gold items (original vs blurred)")
        el = (
            pd.to_numeric(mine["elapsed_s"], errors="coerce").dropna()
            if "elapsed_s" in mine
            else pd.Series(dtype=float)
        )
        median_s = float(el.median()) if len(el) else np.nan
        cv = float(el.std() / el.mean()) if len(el) >= 2 and el.mean() > 0 else np.nan
        if len(el) >= min_speed_votes and median_s < speeder_s:
            reasons.append(f"speeder: median {median_s:.2f} s per vote (threshold {speeder_s:g} s)")
        if len(el) >= min_pacing_votes and cv < pacing_cv:
            reasons.append(
                f"machine-like pacing: response times vary by only {100 * cv:.0f}% (median {median_s:.2f} s)"
            )
        tm = test_votes(mine)
        entropy = np.nan
        for proto, col, what, k in (("mos", "score", "score", 5), ("pair", "choice", "answer", 3)):
            answers = tm.loc[tm["protocol"] == proto, col].dropna()
            if len(answers) >= min_straight_votes:
                top = answers.astype(str).value_counts()
                h = _entropy(answers, k)
                entropy = h if np.isnan(entropy) else min(entropy, h)
                if top.iloc[0] / len(answers) >= straight_share:
                    val = top.index[0].removesuffix(".0")
                    reasons.append(
                        f"straight-liner: the same {what} ({val}) in {top.iloc[0]} of {len(answers)} "
                        f"{'MOS' if proto == 'mos' else 'pairwise'} votes"
                    )
                elif h < min_entropy:
                    reasons.append(f"low answer entropy ({h:.2f} of the scale's maximum)")
        n_rep, incons = reps.get(str(rid), (0, np.nan))
        if n_rep and incons > max_inconsistency:
            reasons.append(f"inconsistent: repeated items answered differently ({n_rep} repeats)")
        n, above = counts.get(rid, [0, 0])
        share = above / n if n else np.nan
        if n >= min_comparisons and n > 0 and share > threshold:
            reasons.append(f"bicubic above HR in {above} of {n} anchor comparisons")
        if "exclude" in manual.get(rid, ""):
            reasons.append("excluded by organiser")
        rows.append(
            [
                rid,
                int(votes_per_rater.get(rid, 0)),
                n_att,
                failed,
                n_gold,
                gold_failed,
                n_rep,
                incons,
                median_s,
                cv,
                entropy,
                np.nan,  # consensus_r and max_deviation: the second pass below
                np.nan,
                n,
                above,
                share,
                bool(reasons),
                "; ".join(reasons),
            ]
        )
    out = pd.DataFrame(rows, columns=QC_COLUMNS)
    # second pass: each rater against the consensus of the raters who passed every check above
    cons = consensus_deviation(t, reference=set(out.loc[~out["flagged"], "rater_id"]))
    for i, rid in enumerate(out["rater_id"]):
        r, dev, n_units = cons.get(str(rid), (np.nan, np.nan, 0))
        out.at[i, "consensus_r"], out.at[i, "max_deviation"] = r, dev
        more = []
        if dev >= max_deviation:
            more.append(f"one version rated {dev:.1f} points away from the other raters' consensus")
        if n_units >= min_consensus_units and r < 0:
            more.append(f"disagrees with the other raters (r = {r:.2f} over {n_units} items)")
        if more:
            out.at[i, "flagged"] = True
            out.at[i, "reason"] = "; ".join([x for x in [out.at[i, "reason"]] if x] + more)
    return out


def exclude_flagged(df: pd.DataFrame, qc: pd.DataFrame | None = None) -> pd.DataFrame:
    qc = rater_quality(df) if qc is None else qc
    bad = set(qc.loc[qc["flagged"], "rater_id"])
    return df[~df["rater_id"].isin(bad)]


# ----------------------------------------------------------------------------- all at once


def sensitivity(all_votes: pd.DataFrame, kept: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """The headline numbers with and without the flagged raters, side by side: per model the MOS
    and the Bradley-Terry score from every rater and from the raters kept."""
    out = pd.DataFrame(
        {
            "model": _order(
                list(mos_votes(all_votes)["model"])
                + list(pair_votes(all_votes)["winner"])
                + list(pair_votes(all_votes)["loser"])
            )
        }
    )
    for tag, d in (("all", all_votes), ("unflagged", kept)):
        m = mos_table(d).set_index("model")["mos"] if len(mos_votes(d)) else pd.Series(dtype=float)
        bt = bradley_terry(d, n_boot=n_boot, seed=seed)
        b = bt.set_index("model")["score"] if len(bt) else pd.Series(dtype=float)
        out[f"mos_{tag}"] = out["model"].map(m)
        out[f"bt_{tag}"] = out["model"].map(b)
    return out


@dataclass
class Results:
    votes: pd.DataFrame
    qc: pd.DataFrame
    mos: pd.DataFrame
    mos_images: pd.DataFrame
    win_rates: pd.DataFrame
    win_counts: pd.DataFrame
    bt: pd.DataFrame
    agreement: pd.DataFrame
    significance: pd.DataFrame
    excluded_raters: list[str] = field(default_factory=list)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    uninvited: int = 0  # sessions left out because they came without an invitation

    @property
    def n_votes(self) -> int:
        return len(self.votes)

    @property
    def n_raters(self) -> int:
        return int(self.votes["rater_id"].nunique()) if len(self.votes) else 0


def analyse(
    df: pd.DataFrame,
    exclude: bool = True,
    n_boot: int = 200,
    seed: int = 0,
    speeder_s: float = 1.0,
    invited_only: bool = False,
) -> Results:
    """Every table of the results view, from the real stimuli only (attention checks, gold and
    repeated items feed the quality control; the practice trial feeds nothing); ``exclude=True``
    (the default) drops flagged raters first.  ``invited_only``: sessions opened without an
    invitation do not count at all (``uninvited`` says how many there were).  ``sensitivity``
    always shows both analyses (with and without the flagged raters)."""
    df = df if len(df) else pd.DataFrame(columns=VOTE_COLUMNS)
    uninvited = 0
    if invited_only and "invited" in df:
        inv = pd.to_numeric(df["invited"], errors="coerce").fillna(1).astype(bool)
        uninvited = int(df.loc[~inv, "rater_id"].nunique())
        df = df[inv]
    qc = rater_quality(df, speeder_s=speeder_s)
    flagged = sorted(qc.loc[qc["flagged"], "rater_id"]) if len(qc) else []
    excluded = flagged if exclude else []
    tests = test_votes(df)
    kept = tests[~tests["rater_id"].isin(set(flagged))]
    d = kept if excluded else tests
    rates, counts = win_rate_matrix(d)
    return Results(
        votes=d,
        qc=qc,
        mos=mos_table(d),
        mos_images=mos_per_image(d),
        win_rates=rates,
        win_counts=counts,
        bt=bradley_terry(d, n_boot=n_boot, seed=seed),
        agreement=agreement(d),
        significance=significance(d),
        excluded_raters=excluded,
        sensitivity=sensitivity(tests, kept, n_boot=n_boot, seed=seed),
        uninvited=uninvited,
    )


def votes_csv(df: pd.DataFrame) -> str:
    """All votes as CSV text (what was shown, in display order, and the answer)."""
    d = df.reindex(columns=VOTE_COLUMNS).copy()
    d["score"] = pd.to_numeric(d["score"], errors="coerce").astype("Int64")
    d = d.rename(columns={"model_a": "model_or_left", "model_b": "right"})
    buf = io.StringIO()
    d.to_csv(buf, index=False)
    return buf.getvalue()


def export_csv(df: pd.DataFrame, path: str | Path) -> Path:
    from srcore.atomic import write_text_atomic

    write_text_atomic(path, votes_csv(df))
    return Path(path)


__all__ = [
    "VOTE_COLUMNS",
    "MODEL_ORDER",
    "mean_ci",
    "mos_table",
    "mos_per_image",
    "win_counts",
    "win_rate_matrix",
    "bt_fit",
    "bradley_terry",
    "krippendorff_alpha",
    "agreement",
    "significance",
    "holm",
    "rater_quality",
    "repeat_consistency",
    "consensus_deviation",
    "QC_COLUMNS",
    "exclude_flagged",
    "test_votes",
    "sensitivity",
    "Results",
    "analyse",
    "votes_csv",
    "export_csv",
]
