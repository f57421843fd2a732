"""The Training and Benchmark views from histories and ``benchmark.json`` (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dashboard import benchmark, progress, training
from srcore.zoo import MODELS

ARMS = [m.key for m in MODELS]


def _write(path: Path, recs: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in recs) + '\n{"kind": "train", "st')  # torn last line


def _run(key: str, steps: int, init: int | None, gan: bool, ips: int = 4) -> list[dict]:
    recs = [
        {
            "kind": "meta",
            "step": 0,
            "name": key,
            "images_per_step": ips,
            "recipe": {"steps": steps},
            "init": {"init_from": "pretrain.safetensors", "init_steps": init} if init else None,
        }
    ]
    for st in range(0, steps, 10):
        r = {"kind": "train", "step": st, "images_seen": st * ips, "vgg" if gan else "mse": 1.0 / (st + 1)}
        if gan:
            r.update(adv=0.7, d_loss=1.2, d_real=0.6, d_fake=0.4)
        recs.append(r)
    recs.append({"kind": "val", "step": steps // 2, "psnr_y": 27.0, "ssim_y": 0.8, "lpips": 0.2, "val_mse": 0.01})
    recs.append({"kind": "picture", "step": steps // 2, "files": [f"baby_step{steps // 2:06d}.png"]})
    return recs


def test_training_view_draws_pretraining_once_and_arms_from_their_start(tmp_path):
    runs = training.load_runs(MODELS, tmp_path)
    assert runs == {} and "not trained yet" in training.status_text(runs, MODELS)
    assert training.loss_figure(runs, ARMS, True, 0.5).layout.annotations  # an explanatory empty figure
    (tmp_path / "history").mkdir()
    _write(tmp_path / "history" / "pretrain.jsonl", _run("pretrain", 100, None, gan=False, ips=16))
    _write(tmp_path / "history" / f"{ARMS[0]}.jsonl", _run(ARMS[0], 50, 100, gan=False))
    _write(tmp_path / "history" / f"{ARMS[-1]}.jsonl", _run(ARMS[-1], 50, 100, gan=True))
    runs = training.load_runs(MODELS, tmp_path)
    assert set(runs) == {"pretrain", ARMS[0], ARMS[-1]}
    fig = training.loss_figure(runs, [ARMS[-1]], False, 0.0)
    by = {t.name: t for t in fig.data}
    assert list(by["Shared MSE pre-training train"].x)[:2] == [0, 10]  # shown once, from 0
    assert list(by[f"{MODELS[-1].title} train"].x)[0] == 100  # the arm from its real start
    assert fig.layout.xaxis.title.text == training.AXES["steps"] and fig.layout.yaxis.title.text
    img = training.loss_figure(runs, [ARMS[-1]], False, 0.0, axis="images")
    by = {t.name: t for t in img.data}
    assert list(by[f"{MODELS[-1].title} train"].x)[:2] == [1600, 1640]  # 100 x 16 pre-training images, then 4 per step
    disc = training.disc_figure(runs, ARMS, False, 0.0)
    assert {t.name for t in disc.data} == {f"{MODELS[-1].title} {s}" for s in ("D loss", "D(real)", "D(fake)")}
    assert all(ax.title.text for ax in (disc.layout.xaxis, disc.layout.yaxis, disc.layout.yaxis2))
    val = training.val_figure(runs, ARMS)
    assert len(val.data) == 9 and "higher is better" in val.layout.yaxis.title.text
    assert "after 100 pre-training steps" in training.status_text(runs, MODELS)

    # progress pictures: on the shared step axis, nearest-enlarged, with LR / HR when saved
    d = tmp_path / "progress" / ARMS[-1]
    d.mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 10, 10)).save(d / "baby_step000025.png")
    Image.new("RGB", (8, 8)).save(d / "baby_lr.png")
    pics = progress.picture_steps(runs, tmp_path)
    assert list(pics) == [ARMS[-1]] and pics[ARMS[-1]][0][0] == 125
    keys = ["pretrain", *ARMS]
    assert progress.pictures_at(pics, keys, tmp_path, 130, "baby")[ARMS[-1]][1] == 125
    assert progress.pictures_at(pics, keys, tmp_path, 120, "baby")[ARMS[-1]] == (None, None)
    f = progress.display_factor(str(d / "baby_step000025.png"))
    assert f == 8 and progress.enlarged(str(d / "baby_step000025.png"), f).shape == (256, 256, 3)
    assert progress.reference(tmp_path, keys, "baby", "lr") == str(d / "baby_lr.png")
    assert training.smooth([1.0, None, 3.0], 0.5)[1] is None


def test_arms_from_a_shared_initialisation_start_after_it(tmp_path):
    """The shipped experiment: pre-training (100 steps), then the shared initialisation's own run
    (``init_mse``: 20 MSE steps from the pre-training's end), then the arms from its end.  The
    initialisation continues the pre-training's line and the arms start after both (issue 22)."""
    (tmp_path / "history").mkdir()
    _write(tmp_path / "history" / "pretrain.jsonl", _run("pretrain", 110, None, gan=False, ips=16))
    _write(tmp_path / "history" / "init_mse.jsonl", _run("init_mse", 30, 100, gan=False, ips=8))
    _write(tmp_path / "history" / f"{ARMS[-1]}.jsonl", _run(ARMS[-1], 50, 20, gan=True))
    runs = training.load_runs(MODELS, tmp_path)
    assert runs["pretrain"].last_step == 100 + 20 and runs[ARMS[-1]].offset_steps == 120
    assert runs[ARMS[-1]].offset_images == 100 * 16 + 20 * 8
    fig = training.loss_figure(runs, [ARMS[-1]], False, 0.0)
    by = {t.name: t for t in fig.data}
    assert list(by["Shared MSE pre-training train"].x)[-3:] == [100, 110, 120]
    assert list(by[f"{MODELS[-1].title} train"].x)[0] == 120
    assert "100 steps, then 20 more MSE steps" in training.status_text(runs, MODELS)
    # an initialisation that did not start from this pre-training's end is not chained
    _write(tmp_path / "history" / "init_mse.jsonl", _run("init_mse", 30, 90, gan=False, ips=8))
    runs = training.load_runs(MODELS, tmp_path)
    assert runs["pretrain"].last_step == 100 and runs[ARMS[-1]].offset_steps == 20


def test_vgg_curves_in_one_unit():
    """A run that scales the VGG features logs its loss scale² smaller; the plot puts it back."""

    def recs(scale):
        return [
            {"kind": "meta", "step": 0, "recipe": {"vgg_feature_scale": scale}},
            {"kind": "train", "step": 1, "vgg": 6.0 * scale**2},
            {"kind": "val", "step": 1, "val_vgg": 5.0 * scale**2},
        ]

    runs = {k: training.Run(k, k, "#000", recs(s)) for k, s in (("a", 1.0), ("b", 1 / 12.75))}
    ys = {t.name: list(t.y) for t in training.loss_figure(runs, ["a", "b"], False, 0.0).data}
    assert ys["a train"] == pytest.approx([6.0]) and ys["b train"] == pytest.approx([6.0])
    assert ys["b val"] == pytest.approx([5.0])
    assert training.vgg_units([{"kind": "meta", "recipe": {}}]) == 1.0


def test_benchmark_view(tmp_path):
    data, msg = benchmark.load(tmp_path)
    assert data is None and "No benchmark yet" in msg
    df = benchmark.table(None, MODELS)
    assert set(df["Source"]) == {benchmark.THEIRS} and "SRCNN (published)" in set(df["Model"])
    models = {
        k: {
            "mean": {
                "psnr_y": 30.0 + i,
                "ssim_y": 0.85,
                "psnr_rgb": 28.6,
                "lpips": 0.3 - 0.01 * i,
                "phase_range": 1.0,
                "bias_r": 0.5 - i,
                "bias_g": 0.0,
                "bias_b": 0.1,
                "hf_energy": 1.0,
            },
            "seconds": 1.0,
            "degradations": {"jpeg75": {"psnr_y": 27.0 - i, "lpips": 0.4}},
        }
        for i, k in enumerate(("bicubic", *ARMS))
    }
    (tmp_path / "benchmark.json").write_text(
        json.dumps(
            {
                "sets": {
                    "Set14": {"images": ["a"], "models": models},
                    "Set5": {"images": ["a", "b"], "models": models},
                },
                "environment": {"cpu": "x"},
            }
        )
    )
    data, _ = benchmark.load(tmp_path)
    df = benchmark.table(data, MODELS)
    cols = list(df.columns)
    for col in (
        "PSNR (Y) (dB) ↑",
        "LPIPS ↓",
        "Phase range (grey levels) ↓",
        "Bias R (grey levels) →0",
        "HF energy (x HR) →1",
        "JPEG quality 75: PSNR (Y) (dB) ↑",
    ):
        assert col in cols, cols
    ours = df[df["Source"] == benchmark.OURS]
    assert list(ours["Set"])[:5] == ["Set5"] * 5  # sets in their usual order
    assert list(ours["Model"])[:5] == ["Bicubic", *(m.title for m in MODELS)]
    set5 = ours[ours["Set"] == "Set5"]
    assert list(set5["PSNR (Y) (dB) ↑"]) == ["30.00", "31.00", "32.00", "33.00", "34.00 ★"]  # best per set
    assert list(set5["Bias R (grey levels) →0"])[0:2] == ["+0.50 ★", "-0.50"]  # closest to 0 (first wins a tie)
    assert list(set5["JPEG quality 75: PSNR (Y) (dB) ↑"])[0].endswith("★")
    pub = df[(df["Set"] == "Set5") & (df["Source"] == benchmark.THEIRS)]
    assert dict(zip(pub["Model"], pub["PSNR (Y) (dB) ↑"]))["FSRCNN (published)"] == "30.72"
    assert "font-weight" in benchmark.styled(df).to_html()
    fig = benchmark.set_figure(data, "Set5", MODELS)
    assert len(fig.data) == 5 and fig.layout.yaxis.autorange == "reversed" and "up" in fig.layout.title.text
    assert "higher is better" in fig.layout.xaxis.title.text and "lower is better" in fig.layout.yaxis.title.text
    (tmp_path / "benchmark.json").write_text("{broken")
    assert benchmark.load(tmp_path)[0] is None
