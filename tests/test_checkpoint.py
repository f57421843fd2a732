"""Generator checkpoints (.safetensors + JSON metadata) and resumable training states."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from srcore.checkpoint import (
    CheckpointError,
    load_generator_file,
    load_train_state,
    read_metadata,
    save_generator,
    save_train_state,
)
from srcore.models import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from srcore.zoo import load_available, load_generator

pytestmark = pytest.mark.timeout(60)
SMALL = GeneratorConfig(n1=16, n2=8, n3=8)


def _perturbed(cfg=SMALL, seed=0) -> Generator:
    torch.manual_seed(seed)
    g = Generator(cfg)
    for p in g.parameters():
        p.data.add_(torch.randn_like(p) * 0.01)
    return g


def test_generator_round_trip(tmp_path):
    g = _perturbed()
    path = save_generator(
        g,
        tmp_path / "g.safetensors",
        name="srcnn_mse",
        steps=123,
        recipe={"loss": "mse"},
        metrics={"psnr_y": 27.5},
        note="plain string",
    )
    assert path.is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file
    g2, meta = load_generator_file(path)
    assert not g2.training
    assert g2.cfg == g.cfg
    for (k, a), (k2, b) in zip(g.state_dict().items(), g2.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert meta["format"] == "srcore-generator-v1"
    assert meta["arch"] == SMALL.to_dict()
    assert meta["steps"] == 123 and meta["recipe"] == {"loss": "mse"} and meta["metrics"] == {"psnr_y": 27.5}
    assert meta["note"] == "plain string" and meta["name"] == "srcnn_mse"
    assert "git_commit" in meta
    assert read_metadata(path) == meta
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(g.eval()(x), g2(x))
    assert isinstance(load_generator(path), Generator)  # the zoo accepts a path too


def test_seed_architecture_round_trip(tmp_path):
    cfg = GeneratorConfig(n1=16, n2=8, upsampler="nearest", residual=False)
    g2, meta = load_generator_file(save_generator(_perturbed(cfg), tmp_path / "seed.safetensors"))
    assert g2.cfg == cfg and meta["arch"]["upsampler"] == "nearest"


def test_truncated_file_names_the_file(tmp_path):
    path = save_generator(_perturbed(), tmp_path / "trunc.safetensors")
    data = path.read_bytes()
    for cut in (len(data) // 2, 40, 5):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as e:
            load_generator_file(path)
        assert str(path) in str(e.value)


def test_random_bytes_and_wrong_suffix(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CheckpointError) as e:
        load_generator_file(junk)
    assert str(junk) in str(e.value)
    pt = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, pt)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_generator_file(pt)
    with pytest.raises(CheckpointError, match="not found"):
        load_generator_file(tmp_path / "missing.safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_generator_file(empty)


def test_foreign_and_bad_safetensors(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other))
    with pytest.raises(CheckpointError, match="not an srcore generator"):
        load_generator_file(other)
    # right format tag, wrong tensors
    bad = tmp_path / "bad.safetensors"
    save_file(
        {"w": torch.zeros(3)}, str(bad), metadata={"format": "srcore-generator-v1", "arch": json.dumps(SMALL.to_dict())}
    )
    with pytest.raises(CheckpointError, match=str(bad)):
        load_generator_file(bad)
    # non-finite weights are refused
    g = _perturbed()
    g.body[0].weight.data[0, 0, 0, 0] = float("nan")
    nan = save_generator(g, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match="non-finite"):
        load_generator_file(nan)


def test_load_available_reports_problems(tmp_path, monkeypatch):
    from srcore import paths

    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    save_generator(_perturbed(), tmp_path / "srcnn_mse.safetensors")
    (tmp_path / "srcnn_pl.safetensors").write_bytes(b"garbage")
    models, problems = load_available(("srcnn_mse", "srcnn_pl", "srgan_pl"))
    assert set(models) == {"srcnn_mse"}
    assert set(problems) == {"srcnn_pl", "srgan_pl"} and "srcnn_pl.safetensors" in problems["srcnn_pl"]


def _train_objects(seed: int):
    torch.manual_seed(seed)
    g = Generator(SMALL)
    d = Discriminator(DiscriminatorConfig(base=4, dense=8))
    og = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-3)
    sg = torch.optim.lr_scheduler.LambdaLR(og, lambda s: 1.0 / (1 + s))
    sd = torch.optim.lr_scheduler.StepLR(od, step_size=2, gamma=0.5)
    return g, d, og, od, sg, sd


def _step(g, d, og, od, sg, sd, x):
    og.zero_grad()
    od.zero_grad()
    sr = g(x)
    (sr.mean() + d(sr).mean()).backward()
    og.step()
    od.step()
    sg.step()
    sd.step()


def test_train_state_round_trip(tmp_path):
    g, d, og, od, sg, sd = _train_objects(0)
    x = torch.rand(2, 3, 8, 8)
    for _ in range(3):
        _step(g, d, og, od, sg, sd, x)
    path = tmp_path / "state.safetensors"
    torch.manual_seed(42)
    save_train_state(
        path,
        {"G": g, "D": d, "EMA": None},
        {"g": og, "d": od, "sched_g": sg, "sched_d": sd, "none": None},
        {"step": 3, "wall": 1.5, "nested": {"a": [1, 2]}},
    )
    want_rand = torch.rand(5)

    g2, d2, og2, od2, sg2, sd2 = _train_objects(1)  # different init
    torch.manual_seed(7)
    extra = load_train_state(
        path, {"G": g2, "D": d2, "EMA": None}, {"g": og2, "d": od2, "sched_g": sg2, "sched_d": sd2}
    )
    assert extra == {"step": 3, "wall": 1.5, "nested": {"a": [1, 2]}}
    torch.testing.assert_close(torch.rand(5), want_rand, rtol=0, atol=0)  # RNG state restored
    for a, b in zip(
        list(g.state_dict().values()) + list(d.state_dict().values()),
        list(g2.state_dict().values()) + list(d2.state_dict().values()),
    ):
        assert torch.equal(a, b)
    for o1, o2 in ((og, og2), (od, od2)):
        s1, s2 = o1.state_dict(), o2.state_dict()
        assert s1["state"].keys() == s2["state"].keys()
        for i in s1["state"]:
            for k in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(torch.as_tensor(s1["state"][i][k]), torch.as_tensor(s2["state"][i][k])), (i, k)
        assert [pg["lr"] for pg in s1["param_groups"]] == [pg["lr"] for pg in s2["param_groups"]]
        assert tuple(s2["param_groups"][0]["betas"]) == tuple(s1["param_groups"][0]["betas"])
    assert sg2.last_epoch == sg.last_epoch == 3 and sd2.last_epoch == 3
    assert sd2.get_last_lr() == sd.get_last_lr()
    # the next step is identical
    _step(g, d, og, od, sg, sd, x)
    _step(g2, d2, og2, od2, sg2, sd2, x)
    for a, b in zip(g.parameters(), g2.parameters()):
        assert torch.equal(a, b)
    assert og.param_groups[0]["lr"] == og2.param_groups[0]["lr"]


def test_train_state_damaged(tmp_path):
    g, d, og, od, sg, sd = _train_objects(0)
    path = tmp_path / "state.safetensors"
    save_train_state(path, {"G": g}, {"g": og}, {"step": 0})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="damaged"):
        load_train_state(path, {"G": g}, {"g": og})
    gen = save_generator(g, tmp_path / "gen.safetensors")
    with pytest.raises(CheckpointError):
        load_train_state(gen, {"G": g}, {"g": og})


def test_git_commit_that_looks_like_a_number_stays_a_string(tmp_path, monkeypatch):
    """A short commit such as 0e44762 is valid JSON for the number 0.0; the metadata keeps it text."""
    import srcore.checkpoint as C

    monkeypatch.setattr(C, "git_commit", lambda: "0e44762")
    path = C.save_generator(Generator(GeneratorConfig(n1=8, n2=8, n3=8)), tmp_path / "g.safetensors", name="x")
    assert C.read_metadata(path)["git_commit"] == "0e44762"
