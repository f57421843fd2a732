"""Your own model in the dashboard (issue 12): a checkpoint trained with ``srcore.train`` and a
new loss shows up as a Compare panel, in the Training and Benchmark views and in the rating
mode, with the title and loss from its metadata; a generator checkpoint without that metadata
is refused with a message naming the file."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import REPO, make_image_dir, run_train

from srcore.checkpoint import save_generator
from srcore.models.generator import Generator
from srcore.zoo import GENERATOR, MODELS, discover

pytestmark = pytest.mark.timeout(900)
PERCEPTUAL = ("vgg16_relu3_3.safetensors", "alexnet_features.safetensors", "lpips_alex_lin.safetensors")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A checkpoints folder: the four table models (untrained stand-ins), a tiny model trained here
    with a new loss, and a generator checkpoint without the model metadata."""
    root = tmp_path_factory.mktemp("own")
    d = root / "ckpt"
    d.mkdir()
    for m in MODELS:
        save_generator(Generator(GENERATOR), d / m.file, name=m.key)
    for f in PERCEPTUAL:
        if (REPO / "checkpoints" / f).is_file():
            shutil.copy(REPO / "checkpoints" / f, d)
    r = run_train(
        "tiny_l1",
        make_image_dir(root / "train", n=3),
        root / "run",
        "--loss",
        "mse=1",
        "--title",
        "Tiny MSE",
        "--export",
        str(d / "tiny_l1.safetensors"),
        steps=3,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    save_generator(Generator(GENERATOR), d / "anonymous.safetensors", name="anonymous")  # no 'model' entry
    hist = d / "history"
    hist.mkdir()
    shutil.copy(root / "run" / "history.jsonl", hist / "tiny_l1.jsonl")
    mean = {"psnr_y": 25.0, "ssim_y": 0.7, "psnr_rgb": 24.0, "lpips": 0.3}
    (d / "benchmark.json").write_text(
        json.dumps(
            {
                "sets": {
                    "Set5": {
                        "images": ["a"],
                        "models": {k: {"mean": mean} for k in ("bicubic", *(m.key for m in MODELS), "tiny_l1")},
                    }
                }
            }
        )
    )
    return d


def test_discovered_with_title_and_loss_and_the_unlabelled_one_refused(folder):
    found = discover(folder)
    assert [s.key for s in found.specs[: len(MODELS)]] == [m.key for m in MODELS]
    tiny = found.specs[-1]
    assert (tiny.key, tiny.title, tiny.loss) == ("tiny_l1", "Tiny MSE", {"mse": 1.0})
    assert tiny.colour not in {m.colour for m in MODELS}
    assert list(found.refused) == ["anonymous.safetensors"]
    why = found.refused["anonymous.safetensors"]
    assert "anonymous.safetensors" in why and "'model' entry" in why and str(folder) not in why
    # perceptual-network weights are not generators: neither shown nor refused
    assert not any(f.startswith(("vgg16", "alexnet", "lpips")) for f in found.refused)


def test_appears_in_every_view(folder):
    import gradio as gr

    from dashboard import benchmark, training
    from dashboard.about import about_text
    from dashboard.core import Engine
    from dashboard.settings import Settings
    from dashboard.ui import build_demo

    if not all((folder / f).is_file() for f in PERCEPTUAL):
        pytest.skip("perceptual-network weights missing from checkpoints/")
    engine = Engine(Settings(checkpoints=folder, threads=1, rating_tabs=False))
    assert "tiny_l1" in engine.models and engine.titles["tiny_l1"] == "Tiny MSE"
    assert "tiny_l1" in engine.panels and engine.panel_help["tiny_l1"]
    assert "anonymous.safetensors" in " ".join(engine.refused.values())

    # Compare: a panel with its title, and the status line names the refused file
    demo = build_demo(engine)
    assert isinstance(demo, gr.Blocks)
    choices = {str(c) for b in demo.blocks.values() for c in (getattr(b, "choices", None) or [])}
    assert any("Tiny MSE" in c for c in choices)
    from dashboard.compare_tab import CompareTab

    tab = CompareTab(engine)
    assert "anonymous.safetensors" in tab.status(None)
    res = tab.compute("Astronaut", None, None, ["tiny_l1"])
    assert "tiny_l1" in res.scores and tab.shown(res).files["tiny_l1"] is not None
    assert '"title": "Tiny MSE"' in tab.shown(res).config

    # Training: its history drawn under its title; Benchmark: its row; About: its objective
    runs = training.load_runs(engine.specs, folder)
    assert runs["tiny_l1"].title == "Tiny MSE"
    assert "Tiny MSE train" in {t.name for t in training.loss_figure(runs, ["tiny_l1"], True, 0.0).data}
    data, _ = benchmark.load(folder)
    assert "Tiny MSE" in set(benchmark.table(data, engine.specs)["Model"])
    assert "Tiny MSE" in {t.name for t in benchmark.set_figure(data, "Set5", engine.specs).data}
    assert "| **Tiny MSE** | `mse` |" in about_text(engine.specs, data)

    # rating mode: the stimuli are made from the app's loaded generators, so it is rated too
    from srcore.rating.stimuli import build_stimuli

    st = build_stimuli(models={"tiny_l1": engine.models["tiny_l1"]}, missing={})
    assert "tiny_l1" in st.models


def test_a_copy_of_a_shipped_checkpoint_gets_its_own_title_and_each_tab_says_why_it_lacks_data(folder, tmp_path):
    """Issue 22: a copy of a table model arrives with the table's title in its metadata; it is named
    after its file instead, and the Training and Benchmark tabs say why it has no curves / row and
    how to add them."""
    from dashboard import training
    from dashboard.benchmark_tab import BenchmarkTab

    extra = tmp_path / "mine"
    extra.mkdir()
    shutil.copy(folder / "tiny_l1.safetensors", extra / "tiny_copy.safetensors")
    found = discover(folder, (extra,))
    titles = [s.title for s in found.specs]
    assert len(titles) == len(set(titles)), titles
    copy = found.specs[-1]
    assert copy.key == "tiny_copy" and copy.title == "Tiny MSE (tiny_copy.safetensors)"
    runs = training.load_runs(found.specs, folder)
    line = next(x for x in training.status_text(runs, found.specs).splitlines() if copy.title in x)
    assert "history/tiny_copy.jsonl" in line and "your model" in line
    data = json.loads((folder / "benchmark.json").read_text())
    note = BenchmarkTab(found.specs, folder).missing(data)
    assert (
        copy.title in note and "--model tiny_copy.safetensors" in note and "Tiny MSE**" not in note.split(copy.title)[0]
    )
