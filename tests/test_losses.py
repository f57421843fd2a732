"""The report's losses: formulas, weighting per recipe, and where gradients may flow."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import make_image_dir

from srcore import paths
from srcore.config import Recipe, TrainConfig, finetune_recipe, report_recipe
from srcore.losses import GeneratorLoss, VGGLoss, adversarial_loss, discriminator_loss, mse_loss
from srcore.losses_table import LOSS_TERMS, format_loss, parse_loss
from srcore.zoo import MODELS

LOSSES = [m.loss for m in MODELS]

pytestmark = pytest.mark.timeout(120)
needs_vgg = pytest.mark.skipif(not paths.VGG16_WEIGHTS.is_file(), reason="VGG16 weights missing from checkpoints/")


def test_mse_on_minus_one_one_scale():
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert float(mse_loss(a, b)) == pytest.approx(4 * float(((a - b) ** 2).mean()), rel=1e-5)
    assert float(mse_loss(a, a)) == 0.0


def test_adversarial_loss_is_minus_log_sigmoid():
    logits = torch.tensor([-3.0, -0.5, 0.0, 1.2, 4.0])
    want = (-torch.log(torch.sigmoid(logits))).mean()
    assert float(adversarial_loss(logits)) == pytest.approx(float(want), rel=1e-6)
    assert float(adversarial_loss(torch.tensor([0.0]))) == pytest.approx(float(torch.log(torch.tensor(2.0))), rel=1e-6)
    # numerically stable where sigmoid saturates
    assert torch.isfinite(adversarial_loss(torch.tensor([-200.0])))


def test_discriminator_loss_formula():
    real = torch.tensor([2.0, -1.0, 0.3])
    fake = torch.tensor([-2.5, 0.7, 0.0])
    want = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert float(discriminator_loss(real, fake)) == pytest.approx(float(want), rel=1e-6)
    # a perfect discriminator has ~0 loss, a confused one 2 log 2
    assert float(discriminator_loss(torch.tensor([50.0]), torch.tensor([-50.0]))) < 1e-6
    assert float(discriminator_loss(torch.zeros(4), torch.zeros(4))) == pytest.approx(2 * 0.6931471805599453, rel=1e-6)


def test_model_table_holds_the_reports_four_objectives():
    assert {m.key: m.loss for m in MODELS} == {
        "srcnn_mse": {"mse": 1.0},
        "srcnn_pl": {"vgg": 1.0},
        "srgan_mse": {"mse": 1.0, "adv": 1e-3},
        "srgan_pl": {"vgg": 1.0, "adv": 1e-3},
    }
    for m in MODELS:
        for rec in (report_recipe(m.loss), finetune_recipe(m.loss, "x")):
            assert rec.loss == m.loss
    r = report_recipe(MODELS[3].loss)
    assert (r.lr, r.betas[0], r.batch) == (2e-4, 0.5, 10)
    with pytest.raises(ValueError, match="unknown loss term"):
        Recipe(loss={"l1": 1.0})
    with pytest.raises(ValueError, match="no content term"):
        Recipe(loss={"adv": 1.0})
    with pytest.raises(ValueError):
        Recipe(patch=30)


def test_loss_specs_parse_and_legacy_metadata_converts():
    assert parse_loss("vgg=1,adv=1e-3") == {"vgg": 1.0, "adv": 1e-3}
    assert parse_loss("mse+adv") == {"mse": 1.0, "adv": 1e-3}
    assert format_loss({"vgg": 1.0, "adv": 1e-3}) == "vgg + 0.001 adv"
    with pytest.raises(ValueError, match="not a number"):
        parse_loss("mse=x")
    old = Recipe.from_dict({"loss": "vgg+adv", "adv_weight": 0.01, "steps": 5})
    assert old.loss == {"vgg": 1.0, "adv": 0.01} and old.steps == 5
    assert set(LOSS_TERMS) >= {"mse", "vgg", "adv"}


@pytest.fixture(scope="module")
def shared_vgg():
    """One VGGLoss for the module: building VGG16 takes seconds on a busy CPU."""
    if not paths.VGG16_WEIGHTS.is_file():
        pytest.skip("VGG16 weights missing from checkpoints/")
    return VGGLoss()


@pytest.fixture
def vgg_once(shared_vgg, monkeypatch):
    """GeneratorLoss built inside a test gets the shared VGG instead of loading a new one."""
    import srcore.losses

    def make(variant="vgg16", feature_scale=1.0):  # noqa: ARG001 - VGGLoss's signature
        shared_vgg.feature_scale = feature_scale
        return shared_vgg

    monkeypatch.setattr(srcore.losses, "VGGLoss", make)
    yield shared_vgg
    shared_vgg.feature_scale = 1.0


@pytest.mark.usefixtures("vgg_once")
def test_vgg_features_rescaled_as_srgan():
    """The fine-tune recipe multiplies VGG features by 1/12.75 (Ledig et al.) for every arm, so the
    1e-3 adversarial term is not swamped; the report's recipe keeps the unscaled loss."""
    from srcore.config import SRGAN_VGG_SCALE

    pl_adv = {"vgg": 1.0, "adv": 1e-3}
    assert report_recipe(pl_adv).vgg_feature_scale == 1.0
    assert finetune_recipe(pl_adv, "x").vgg_feature_scale == pytest.approx(1 / 12.75)
    torch.manual_seed(0)
    sr, hr, logits = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.randn(2)
    _, plain = GeneratorLoss(Recipe(loss=pl_adv))(sr, hr, logits)
    total, scaled = GeneratorLoss(finetune_recipe(pl_adv, "x"))(sr, hr, logits)
    assert scaled["vgg"] == pytest.approx(plain["vgg"] * SRGAN_VGG_SCALE**2, rel=1e-5)
    assert float(total) == pytest.approx(scaled["vgg"] + 1e-3 * scaled["adv"], rel=1e-6)


@pytest.mark.parametrize("loss", LOSSES, ids=[m.key for m in MODELS])
def test_generator_loss_terms_and_weight(loss, vgg_once):
    torch.manual_seed(0)
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    logits = torch.randn(2)
    fn = GeneratorLoss(Recipe(loss=loss))
    assert (fn.vgg is vgg_once) == ("vgg" in loss)
    total, terms = fn(sr, hr, logits if "adv" in loss else None)
    terms = {k: float(v) for k, v in terms.items()}
    content = "vgg" if "vgg" in loss else "mse"
    want_keys = {content} | ({"adv"} if "adv" in loss else set())
    assert set(terms) == want_keys
    if content == "mse":
        assert terms["mse"] == pytest.approx(float(mse_loss(sr, hr)), rel=1e-6)
    else:
        with torch.no_grad():
            f = fn.vgg.features
            assert terms["vgg"] == pytest.approx(float(F.mse_loss(f(sr), f(hr))), rel=1e-5)
    expected = terms[content] + (1e-3 * terms["adv"] if "adv" in terms else 0.0)
    assert float(total) == pytest.approx(expected, rel=1e-6)
    if "adv" in terms:
        assert terms["adv"] == pytest.approx(float(adversarial_loss(logits)), rel=1e-6)
        with pytest.raises(ValueError):
            fn(sr, hr, None)


def test_adv_weight_is_configurable():
    sr, hr, logits = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.tensor([-1.0])
    t1, terms = GeneratorLoss(Recipe(loss={"mse": 1.0, "adv": 1e-3}))(sr, hr, logits)
    t2, _ = GeneratorLoss(Recipe(loss={"mse": 1.0, "adv": 0.5}))(sr, hr, logits)
    assert float(t2 - t1) == pytest.approx((0.5 - 1e-3) * float(terms["adv"]), rel=1e-5)


def test_vgg_frozen_and_eval(vgg_once):
    loss = vgg_once
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    hr = torch.rand(1, 3, 32, 32)
    loss(sr, hr).backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0  # gradient reaches the image
    assert all(p.grad is None and not p.requires_grad for p in loss.features.parameters())
    loss.train()
    assert not loss.features.training and not loss.features.trunk.training
    gl = GeneratorLoss(Recipe(loss={"vgg": 1.0}))
    gl.train()
    assert not gl.vgg.features.training
    # VGG16 up to relu3_3: 256 channels at 1/4 resolution, ends in a ReLU
    f = loss.features(torch.rand(1, 3, 32, 32))
    assert f.shape == (1, 256, 8, 8) and float(f.min()) >= 0
    assert isinstance(loss.features.trunk[-1], torch.nn.ReLU)


@needs_vgg
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.usefixtures("vgg_once")
def test_trainer_generator_step_does_not_update_discriminator(tmp_path):
    from srcore.train import Trainer

    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    cfg = TrainConfig(
        name="srgan_pl", train_dirs=[str(data)], out_dir=str(tmp_path / "run"), workers=0, progress=False, threads=1
    )
    tr = Trainer(cfg, Recipe(loss={"vgg": 1.0, "adv": 1e-3}, batch=2, patch=32, ema_decay=0.0, warmup=0))
    from srcore.data import batch_to_device

    lr, hr = (batch_to_device(t, tr.device) for t in next(iter(tr._loader())))  # uint8 crops, made float
    snap = {}
    d_step = tr.opt_d.step

    def record_after_d_step(*a, **k):
        out = d_step(*a, **k)
        snap["params"] = [p.detach().clone() for p in tr.D.parameters()]
        snap["grads"] = [p.grad.detach().clone() for p in tr.D.parameters()]
        return out

    tr.opt_d.step = record_after_d_step
    g_before = [p.detach().clone() for p in tr.G.parameters()]
    d_before = [p.detach().clone() for p in tr.D.parameters()]
    rec = tr.train_step(lr, hr)
    assert {"d_loss", "d_real", "d_fake", "vgg", "adv", "g_loss"} <= set(rec)
    assert all(torch.is_tensor(v) and not v.requires_grad for v in rec.values())  # no host sync per step
    assert 0 < rec["d_real"] < 1 and 0 < rec["d_fake"] < 1
    # the D step changed D; the G step that followed left D's weights and gradients untouched
    assert any(not torch.equal(a, b) for a, b in zip(d_before, snap["params"]))
    for p, want, g in zip(tr.D.parameters(), snap["params"], snap["grads"]):
        assert torch.equal(p.detach(), want)
        assert torch.equal(p.grad, g)
    # and G was updated, with gradients from the G loss
    assert any(not torch.equal(a, b.detach()) for a, b in zip(g_before, tr.G.parameters()))
    assert all(p.grad is not None for p in tr.G.parameters())
    assert all(not p.requires_grad for p in tr.loss.vgg.parameters())


def test_uint8_crops_become_the_same_floats_on_the_device():
    """The loader hands over uint8 crops (a quarter of the bytes); ``batch_to_device`` makes them the
    floats ``to_tensor`` would have made."""
    import numpy as np

    from srcore.data import CropDataset, batch_to_device, to_tensor

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ds = CropDataset([(hr, lr, "x")], patch=32, crops_per_image=1, augment=False)
    lr_t, hr_t = ds[0]
    assert lr_t.dtype == hr_t.dtype == torch.uint8 and hr_t.shape == (3, 32, 32)
    got = batch_to_device(hr_t[None], "cpu")
    assert got.dtype == torch.float32
    want = to_tensor(np.ascontiguousarray(hr_t.permute(1, 2, 0).numpy()))[None]
    assert torch.equal(got, want)
    cl = batch_to_device(hr_t[None], "cpu", torch.channels_last)
    assert cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(cl, want)
