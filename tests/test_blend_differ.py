"""srcore.blend (network interpolation between two arms) and srcore.differ (where two outputs differ)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcore.blend import BlendCache, BlendError, blend, blend_state, check_alpha
from srcore.differ import top_windows
from srcore.inference import prepare, upscale
from srcore.models.generator import Generator, GeneratorConfig

CFG = GeneratorConfig(n1=8, n2=8, n3=8, upsampler="resize_conv", lr_consistency=True)


def _pair(seed=0):
    torch.manual_seed(seed)
    return Generator(CFG).eval(), Generator(CFG).eval()


def test_ends_are_the_models_themselves_and_the_middle_is_the_line():
    a, b = _pair()
    assert blend(a, b, 0) is a and blend(a, b, 1.0) is b
    m = blend(a, b, 0.25)
    for k, t in m.state_dict().items():
        want = 0.75 * a.state_dict()[k] + 0.25 * b.state_dict()[k]
        torch.testing.assert_close(t, want, rtol=0, atol=1e-7)
    assert m is not a and a.state_dict()["body.0.weight"].data_ptr() != m.state_dict()["body.0.weight"].data_ptr()


def test_blending_inference_copies_equals_preparing_the_blend():
    a, b = _pair(1)
    lr = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    via_prepared = upscale(blend(prepare(a), prepare(b), 0.5), lr)
    via_raw = upscale(prepare(blend(a, b, 0.5)), lr)
    assert np.abs(via_prepared.astype(int) - via_raw.astype(int)).max() <= 1
    out_a, out_b = upscale(prepare(a), lr), upscale(prepare(b), lr)
    assert not np.array_equal(via_prepared, out_a) and not np.array_equal(via_prepared, out_b)


def test_unlike_networks_and_bad_alpha_are_refused():
    a = Generator(CFG)
    b = Generator(GeneratorConfig(n1=8, n2=8, n3=8, upsampler="resize_conv", lr_consistency=False))
    with pytest.raises(BlendError, match="lr_consistency"):
        blend(a, b, 0.5)
    with pytest.raises(BlendError, match="different weights"):
        blend(a, prepare(Generator(CFG)), 0.5)
    for bad in (-0.1, 1.5, float("nan"), "x", None):
        with pytest.raises(BlendError):
            check_alpha(bad)
    with pytest.raises(BlendError):
        blend_state(a.state_dict(), a.state_dict(), 2)


def test_cache_blends_each_alpha_once():
    a, b = _pair(2)
    c = BlendCache(size=3)
    g1 = c.get("a", a, "b", b, 0.15)
    assert c.get("a", a, "b", b, 0.1 + 0.05) is g1 and c.blends == 1
    assert c.get("a", a, "b", b, 0) is a and c.blends == 1
    for al in (0.2, 0.3, 0.4):
        c.get("a", a, "b", b, al)
    assert c.blends == 4
    assert c.get("a", a, "b", b, 0.15) is not g1 and c.blends == 5, "the oldest was let go"


def test_top_windows_finds_planted_differences_in_order_without_overlap():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    b = a.copy()
    b[120:152, 200:232] ^= 64  # strong
    b[10:42, 10:42] ^= 16  # weaker
    ws = top_windows(a, b, side=32, count=5)
    assert (ws[0].x, ws[0].y) == (200, 120) and (ws[1].x, ws[1].y) == (10, 10)
    assert ws[0].rms > ws[1].rms > 0
    assert len(ws) <= 5 and all(w.rms > 0 for w in ws)
    for i, p in enumerate(ws):
        for q in ws[i + 1 :]:
            assert p.x + p.side <= q.x or q.x + q.side <= p.x or p.y + p.side <= q.y or q.y + q.side <= p.y
    assert top_windows(a, a.copy()) == []
    with pytest.raises(ValueError, match="size"):
        top_windows(a, a[:10])


def test_blend_curves_ends_are_the_arms_and_the_plot_draws_them(tmp_path):
    """srcore.blend_curves on two small photos: α = 0 / 1 give the arms' own benchmark figures; the
    Benchmark tab's plot draws one dashed curve per pair, and says how to get them when absent."""
    import json

    from helpers import make_image_dir

    from dashboard import benchmark as bview
    from dashboard import blend_plot
    from srcore import blend_curves, evaluate
    from srcore.zoo import MODELS

    folder = make_image_dir(tmp_path / "Set14", n=2, size=(64, 72))
    lp = evaluate.lpips_numpy(evaluate.LPIPS(), "cpu")
    pairs = (("srcnn_mse", "srgan_pl"),)
    got = blend_curves.curves({"Set14": folder}, lp, pairs=pairs, alphas=(0.0, 0.5, 1.0))
    bench = evaluate.evaluate({"Set14": folder}, ["srcnn_mse", "srgan_pl"], progress=False, degradations=False)
    curve = got["pairs"][0]["sets"]["Set14"]
    for i, m in ((0, "srcnn_mse"), (2, "srgan_pl")):
        mean = bench["sets"]["Set14"]["models"][m]["mean"]
        assert curve["psnr_y"][i] == pytest.approx(mean["psnr_y"], abs=1e-9)
        assert curve["lpips"][i] == pytest.approx(mean["lpips"], abs=1e-6)
    assert curve["psnr_y"][1] not in (curve["psnr_y"][0], curve["psnr_y"][2])
    json.dumps(got)  # JSON-ready as benchmark.json stores it
    fig = bview.set_figure({**bench, "blend_curves": got}, "Set14", MODELS)
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert len(dashed) == 1 and list(dashed[0].x) == curve["psnr_y"] and "SRCNN-MSE → SRGAN-PL" in dashed[0].name
    fig = bview.set_figure(bench, "Set14", MODELS)  # no blend_curves key: a note, no error
    assert not [t for t in fig.data if t.line.dash == "dash"]
    assert any("--blend-curves" in a.text for a in fig.layout.annotations)
    assert "--blend-curves" in blend_plot.note(bench) and "Dashed" in blend_plot.note({"blend_curves": got})
    # malformed entries are skipped, not raised
    assert (
        blend_plot.add_curves(
            fig, {"blend_curves": {"alphas": [0, 1], "pairs": [{"sets": {"Set14": 3}}, 5]}}, "Set14", {}, {}
        )
        == 0
    )
