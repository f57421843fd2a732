"""DDP smoke test: two CPU processes with the gloo backend train, stay in sync and export."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist
from helpers import REPO, make_image_dir, subprocess_env
from safetensors.torch import load_file

from srcore import history
from srcore.checkpoint import load_generator_file

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                       reason="torch.distributed with the gloo backend is not available in this torch build"),
]

# Runs srcore.train.main unchanged; afterwards every rank writes its own generator weights so the
# test can check that the two replicas are identical (only rank 0 writes state and export).
DRIVER = textwrap.dedent("""
    import sys
    from safetensors.torch import save_file
    import srcore.train as T

    _run = T.Trainer.run

    def run(self):
        _run(self)
        sd = {k: v.detach().cpu().contiguous() for k, v in self.G.state_dict().items()}
        save_file(sd, f"{self.cfg.out_dir}/rank{self.rank}_of_{self.world}.safetensors")

    T.Trainer.run = run
    sys.exit(T.main(sys.argv[1:]))
""")


def test_ddp_gloo_two_processes(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    driver = tmp_path / "ddp_driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", str(driver),
           "srcnn_mse", "--train-dir", str(data), "--out", str(out), "--steps", "4", "--batch", "2", "--patch", "32",
           "--workers", "0", "--threads", "1", "--no-progress", "--log-every", "1", "--ema-decay", "0",
           "--device", "cpu"]
    r = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=220)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    meta = history.read(out / "history.jsonl")[0]
    assert meta["kind"] == "meta" and meta["world_size"] == 2
    train = [h for h in history.read(out / "history.jsonl") if h["kind"] == "train"]
    assert [h["step"] for h in train] == [1, 2, 3, 4]
    assert all(h["images_per_s"] > 0 for h in train)
    # both replicas hold the same weights after training
    w0 = load_file(str(out / "rank0_of_2.safetensors"))
    w1 = load_file(str(out / "rank1_of_2.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=1e-7)
    # the export (rank 0) is that generator, it was trained (differs from the initialisation), and it loads
    g, gmeta = load_generator_file(out / "srcnn_mse.safetensors")
    assert gmeta["world_size"] == 2 and gmeta["steps"] == 4
    for k, v in g.state_dict().items():
        assert torch.equal(v, w0[k]), k
    state = load_file(str(out / "state.safetensors"))
    for k in w0:
        assert torch.equal(state[f"G::{k}"], w0[k]), k
    torch.manual_seed(0)
    from srcore.models import Generator

    fresh = Generator(g.cfg)
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in g.state_dict().items())
