"""Rating statistics on synthetic votes with known answers."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from srcore.rating import stats
from srcore.rating.stats import VOTE_COLUMNS

pytestmark = pytest.mark.timeout(60)


def _df(rows):
    """rows: dicts with rater_id, protocol, image_id, model_a, model_b, score, choice."""
    out = []
    for i, r in enumerate(rows):
        d = dict(
            vote_id=i + 1,
            created=float(i),
            elapsed_s=2.0 + (i * 7) % 5,  # people vary; a constant time reads as a script
            token=f"t{i:020d}",
            flags="",
            model_b=None,
            score=None,
            choice=None,
        )
        d.update(r)
        out.append(d)
    return pd.DataFrame(out, columns=VOTE_COLUMNS)


def mos(rater, image, model, score):
    return dict(rater_id=rater, protocol="mos", image_id=image, model_a=model, score=score)


def pair(rater, image, left, right, choice):
    return dict(rater_id=rater, protocol="pair", image_id=image, model_a=left, model_b=right, choice=choice)


# ------------------------------------------------------------------ MOS


def test_mean_ci_known_values():
    m, sd, lo, hi, n = stats.mean_ci([1, 2, 3, 4, 5])
    # t(0.975, 4) = 2.7764451; sd = sqrt(2.5)
    half = 2.7764451 * np.sqrt(2.5) / np.sqrt(5)
    assert (m, n) == (3.0, 5) and sd == pytest.approx(np.sqrt(2.5))
    assert lo == pytest.approx(3 - half, abs=1e-6) and hi == pytest.approx(3 + half, abs=1e-6)
    assert np.isnan(stats.mean_ci([4])[2]) and stats.mean_ci([])[4] == 0


def test_mos_table_per_model_and_image():
    rows = [mos(f"r{k}", img, "hr", 5) for k in range(4) for img in ("a", "b")]
    rows += [mos(f"r{k}", "a", "bicubic", s) for k, s in enumerate([1, 2, 3, 4])]
    rows += [mos(f"r{k}", "b", "bicubic", 2) for k in range(4)]
    df = _df(rows)
    t = stats.mos_table(df).set_index("model")
    assert list(t.index) == ["bicubic", "hr"]  # the fixed model order
    assert t.loc["hr", "n"] == 8 and t.loc["hr", "mos"] == 5 and t.loc["hr", "ci_low"] == 5
    assert t.loc["bicubic", "mos"] == pytest.approx(2.25)
    img = stats.mos_per_image(df).set_index(["image_id", "model"])
    assert img.loc[("a", "bicubic"), "mos"] == 2.5 and img.loc[("b", "bicubic"), "sd"] == 0
    half = 3.1824463 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert img.loc[("a", "bicubic"), "ci_high"] == pytest.approx(2.5 + half, abs=1e-6)


def test_mos_ci_coverage_is_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    reps = 400
    for _ in range(reps):
        x = np.clip(np.round(rng.normal(3.2, 1.0, 25)), 1, 5)
        # the true mean of the clipped/rounded distribution, by a large sample
        _, _, lo, hi, _ = stats.mean_ci(x)
        hits += lo <= TRUE_MEAN <= hi
    assert 0.91 <= hits / reps <= 0.985


_big = np.clip(np.round(np.random.default_rng(99).normal(3.2, 1.0, 2_000_000)), 1, 5)
TRUE_MEAN = float(_big.mean())


# ------------------------------------------------------------------ pairwise and Bradley-Terry


def test_bt_fit_exact_two_models_and_ties():
    W = np.array([[0, 3.0], [1.0, 0]])
    N = np.array([[0, 4.0], [4.0, 0]])
    th = stats.bt_fit(W, N, prior=0)
    assert th[0] - th[1] == pytest.approx(np.log(3), abs=1e-6) and th.sum() == pytest.approx(0, abs=1e-9)
    # 2 wins + 2 ties for A is the same as 3 wins out of 4
    df = _df([pair("r", "i", "A", "B", "left")] * 2 + [pair("r", "i", "B", "A", "tie")] * 2)
    models, W2, N2 = stats.win_counts(df)
    assert models == ["A", "B"] and W2[0, 1] == 3 and W2[1, 0] == 1 and N2[0, 1] == 4
    assert np.allclose(stats.bt_fit(W2, N2, prior=0), th)


def test_bradley_terry_recovers_known_strengths():
    rng = np.random.default_rng(0)
    names = ["bicubic", "srcnn_mse", "srgan_pl", "hr"]
    theta = np.array([-1.2, -0.3, 0.4, 1.1])
    theta -= theta.mean()
    rows = []
    for k in range(3000):
        i, j = rng.choice(4, 2, replace=False)
        p = 1 / (1 + np.exp(theta[j] - theta[i]))
        rows.append(pair(f"r{k % 30}", f"img{k % 5}", names[i], names[j], "left" if rng.random() < p else "right"))
    df = _df(rows)
    bt = stats.bradley_terry(df, n_boot=100, seed=0).set_index("model").loc[names]
    assert np.allclose(bt["score"], theta, atol=0.15)
    assert ((bt["ci_low"] <= theta + 0.05) & (theta - 0.05 <= bt["ci_high"])).all()
    assert (bt["ci_high"] - bt["ci_low"] < 0.5).all()
    rates, counts = stats.win_rate_matrix(df)
    p_true = 1 / (1 + np.exp(theta[0] - theta[3]))
    assert rates.loc["hr", "bicubic"] == pytest.approx(p_true, abs=0.06)
    assert rates.loc["hr", "bicubic"] + rates.loc["bicubic", "hr"] == pytest.approx(1)
    assert counts.loc["hr", "bicubic"] == counts.loc["bicubic", "hr"] > 0
    sig = stats.significance(df).set_index(["model_a", "model_b"])
    assert sig.loc[("bicubic", "hr"), "significant"] and sig.loc[("bicubic", "hr"), "p_holm"] < 1e-6


def test_bradley_terry_undefeated_model_stays_finite():
    df = _df([pair("r", "i", "hr", "bicubic", "left")] * 10)
    bt = stats.bradley_terry(df, n_boot=20)
    assert np.isfinite(bt["score"]).all() and bt.set_index("model").loc["hr", "score"] > 1


# ------------------------------------------------------------------ agreement


def test_krippendorff_alpha_reference_example():
    """Krippendorff (2011), 'Computing Krippendorff's alpha-reliability', 4 coders x 12 units."""
    N = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
    units = [[x for x in u if x is not None] for u in zip(*coders)]
    assert stats.krippendorff_alpha(units, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert stats.krippendorff_alpha(units, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert stats.krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=5e-4)
    assert stats.krippendorff_alpha([[1, 1], [3, 3], [5, 5]], "interval") == 1.0


def test_agreement_table_from_votes():
    rows = [
        mos(r, img, m, s)
        for r in ("a", "b", "c")
        for img in ("x", "y")
        for m, s in (("bicubic", 1), ("srgan_pl", 3), ("hr", 5))
    ]
    rows += [pair(r, "x", "bicubic", "hr", "right") for r in ("a", "b")] + [pair("c", "x", "hr", "bicubic", "left")]
    ag = stats.agreement(_df(rows)).set_index("statistic")
    assert ag.loc["Krippendorff alpha (interval)", "value"] == 1.0
    assert ag.loc["Krippendorff alpha (nominal)", "value"] == 1.0  # left/right order does not matter


# ------------------------------------------------------------------ significance and quality control


def test_significance_mos_wilcoxon_and_holm():
    rng = np.random.default_rng(3)
    rows = []
    for r in range(12):
        for img in ("a", "b", "c"):
            rows.append(mos(f"r{r}", img, "bicubic", int(rng.integers(1, 3))))
            rows.append(mos(f"r{r}", img, "hr", int(rng.integers(4, 6))))
            rows.append(mos(f"r{r}", img, "srcnn_mse", int(rng.integers(4, 6))))
    sig = stats.significance(_df(rows)).set_index(["model_a", "model_b"])
    assert sig.loc[("bicubic", "hr"), "significant"] and sig.loc[("bicubic", "hr"), "effect"] < -2
    assert sig.loc[("bicubic", "hr"), "n"] == 36
    assert not sig.loc[("srcnn_mse", "hr"), "significant"]
    assert (sig["p_holm"] >= sig["p"]).all()
    assert np.allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_quality_control_flags_and_exclusion():
    rows = []
    for r in ("good1", "good2"):
        for img in ("a", "b", "c"):
            rows += [mos(r, img, "bicubic", 2), mos(r, img, "hr", 5), mos(r, img, "srgan_pl", 4)]
    for img in ("a", "b", "c"):  # a careless rater: bicubic above HR on 2 of 3 images
        rows += [
            mos("bad", img, "bicubic", 5 if img != "c" else 1),
            mos("bad", img, "hr", 1 if img != "c" else 5),
            mos("bad", img, "srgan_pl", 1),
        ]
    rows += [
        pair("badpair", "a", "bicubic", "hr", "left"),
        pair("badpair", "b", "hr", "bicubic", "right"),
        pair("badpair", "c", "hr", "bicubic", "tie"),
        pair("good1", "a", "hr", "bicubic", "left"),
    ]
    df = _df(rows)
    qc = stats.rater_quality(df).set_index("rater_id")
    assert (
        qc.loc["bad", "flagged"] and qc.loc["bad", "anchor_comparisons"] == 3 and qc.loc["bad", "bicubic_above_hr"] == 2
    )
    assert qc.loc["badpair", "flagged"] and qc.loc["badpair", "share"] == pytest.approx(2 / 3)
    assert not qc.loc["good1", "flagged"] and qc.loc["good1", "anchor_comparisons"] == 4
    assert not qc.loc["good2", "flagged"]
    full = stats.analyse(df, exclude=False, n_boot=10)
    clean = stats.analyse(df, n_boot=10)  # exclusion is the default
    assert sorted(clean.excluded_raters) == ["bad", "badpair"] and full.excluded_raters == []
    assert clean.mos.set_index("model").loc["hr", "mos"] == 5
    assert full.mos.set_index("model").loc["hr", "mos"] < 5
    assert set(clean.votes["rater_id"]) == {"good1", "good2"}


def test_csv_export_has_every_vote(tmp_path):
    rows = [mos("r1", "a", "hr", 4), pair("r1", "a", "bicubic", "hr", "right")]
    df = _df(rows)
    text = stats.votes_csv(df)
    back = pd.read_csv(io.StringIO(text))
    assert len(back) == 2 and "model_or_left" in back and back.loc[0, "score"] == 4 and back.loc[1, "choice"] == "right"
    p = stats.export_csv(df, tmp_path / "v.csv")
    assert p.read_text() == text


def test_analyse_on_no_votes():
    res = stats.analyse(pd.DataFrame(columns=VOTE_COLUMNS))
    assert res.n_votes == 0 and res.mos.empty and res.bt.empty and res.significance.empty
