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

from srcore.rating.stimuli import ANCHORS, DEGRADED, MODEL_KEYS

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


def _attention(df: pd.DataFrame) -> dict[str, list[int]]:
    """Per rater: [attention checks answered, failed].  MOS: the degraded crop scored 3 or more;
    pairs: the degraded side chosen, or "can't tell"."""
    out: dict[str, list[int]] = {}
    if "kind" not in df:
        return out
    d = df[df["kind"] == "attention"]
    for rid, proto, a, _b, score, choice in zip(
        d["rater_id"], d["protocol"], d["model_a"], d["model_b"], d["score"], d["choice"]
    ):
        if proto == "mos":
            failed = float(score) >= 3
        else:
            good = "left" if a != DEGRADED else "right"
            failed = choice != good
        c = out.setdefault(rid, [0, 0])
        c[0] += 1
        c[1] += int(failed)
    return out


def rater_quality(
    df: pd.DataFrame,
    min_comparisons: int = 1,
    threshold: float = 0.5,
    speeder_s: float = 1.0,
    min_speed_votes: int = 5,
    straight_share: float = 0.9,
    min_straight_votes: int = 10,
    attention_fail_share: float = 1 / 3,
) -> pd.DataFrame:
    """Quality control per rater; ``flagged`` with every ``reason`` that applies:

    - attention checks: failed more than ``attention_fail_share`` of them (and at least one);
    - speeder: median seconds per vote below ``speeder_s`` over at least ``min_speed_votes`` votes;
    - straight-liner: one answer (the same score, or the same side) in at least ``straight_share``
      of at least ``min_straight_votes`` votes of a task;
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
    att = _attention(df)
    raters = list(pd.unique(df["rater_id"])) if len(df) else []
    manual = {}
    if "flags" in df:
        manual = {r: str(f or "") for r, f in zip(df["rater_id"], df["flags"])}
    rows = []
    votes_per_rater = df["rater_id"].value_counts() if len(df) else pd.Series(dtype=int)
    for rid in raters:
        mine = df[df["rater_id"] == rid]
        reasons = []
        n_att, failed = att.get(rid, [0, 0])
        if failed and failed / n_att > attention_fail_share:
            reasons.append(f"failed {failed} of {n_att} attention checks")
        el = (
            pd.to_numeric(mine["elapsed_s"], errors="coerce").dropna()
            if "elapsed_s" in mine
            else pd.Series(dtype=float)
        )
        median_s = float(el.median()) if len(el) else np.nan
        if len(el) >= min_speed_votes and median_s < speeder_s:
            reasons.append(f"speeder: median {median_s:.2f} s per vote (threshold {speeder_s:g} s)")
        tm = test_votes(mine)
        for proto, col, what in (("mos", "score", "score"), ("pair", "choice", "answer")):
            answers = tm.loc[tm["protocol"] == proto, col].dropna()
            if len(answers) >= min_straight_votes:
                top = answers.astype(str).value_counts()
                if top.iloc[0] / len(answers) >= straight_share:
                    val = top.index[0].removesuffix(".0")
                    reasons.append(
                        f"straight-liner: the same {what} ({val}) in {top.iloc[0]} of {len(answers)} "
                        f"{'MOS' if proto == 'mos' else 'pairwise'} votes"
                    )
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
                median_s,
                n,
                above,
                share,
                bool(reasons),
                "; ".join(reasons),
            ]
        )
    return pd.DataFrame(
        rows,
        columns=[
            "rater_id",
            "votes",
            "attention_checks",
            "attention_failed",
            "median_s",
            "anchor_comparisons",
            "bicubic_above_hr",
            "share",
            "flagged",
            "reason",
        ],
    )


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

    @property
    def n_votes(self) -> int:
        return len(self.votes)

    @property
    def n_raters(self) -> int:
        return int(self.votes["rater_id"].nunique()) if len(self.votes) else 0


def analyse(
    df: pd.DataFrame, exclude: bool = False, n_boot: int = 200, seed: int = 0, speeder_s: float = 1.0
) -> Results:
    """Every table of the results view, from the real stimuli only (attention checks feed the
    quality control); ``exclude=True`` drops flagged raters first.  ``sensitivity`` always
    shows both analyses (with and without the flagged raters)."""
    df = df if len(df) else pd.DataFrame(columns=VOTE_COLUMNS)
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
    "exclude_flagged",
    "test_votes",
    "sensitivity",
    "Results",
    "analyse",
    "votes_csv",
    "export_csv",
]
