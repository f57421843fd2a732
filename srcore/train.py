"""Train a generator: ``python -m srcore.train srcnn_mse --train-dir DIR``.

Any model of the table (``srcore.zoo.MODELS``), or a new one: ``python -m srcore.train my_l1
--loss "mse=1,vgg=0.1" --title "My loss"`` (its checkpoint then shows up in the dashboard).
Step-based training with a resumable state saved atomically every ``--save-every`` steps (written
in the background from a copy) and on SIGTERM/SIGINT; ``--resume`` continues after a crash or
kill -9.  One data loader with persistent workers serves the whole run; loss values stay on the
device and are read every ``--log-every`` steps.  Appends a JSONL history and saves progress
pictures (SR of fixed validation crops).  Multi-GPU: ``torchrun --nproc_per_node N -m
srcore.train ...`` (DDP; gloo on CPU): logged losses are averaged over ranks, rank 0's state is
broadcast on resume, and the ranks end with their launcher.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import json
import math
import os
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from srcore import history
from srcore.atomic import write_bytes_atomic, write_text_atomic
from srcore.checkpoint import (
    CheckpointError,
    load_generator_file,
    load_train_state,
    save_generator,
    snapshot_train_state,
    write_train_state,
)
from srcore.config import Recipe, TrainConfig, finetune_recipe, report_recipe
from srcore.data import (
    CropDataset,
    EpochBatches,
    batch_to_device,
    fixed_crops,
    image_files,
    load_pairs,
    split_holdout,
    to_tensor,
    to_uint8,
)
from srcore.imageio import ImageLoadError
from srcore.inference import DEFAULT_TILE, sr_tensor
from srcore.losses import GeneratorLoss, discriminator_loss, mse_loss
from srcore.losses_table import format_loss, parse_loss
from srcore.metrics import psnr, ssim
from srcore.models.discriminator import Discriminator
from srcore.models.feature_nets import LPIPS
from srcore.models.generator import Generator, GeneratorConfig
from srcore.zoo import BY_KEY, GENERATOR, SEED_GENERATOR, checkpoint_path

STATE_FILE = "state.safetensors"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".trainer.lock"
PARENT_ENV = "SRCORE_PARENT_PID"  # set by a driver (srcore.experiment): the trainer ends when that process does


class FolderBusy(ValueError):
    """Another trainer holds the run folder."""


def lock_run_folder(out: Path, wait: float = 0.0) -> IO[str] | None:
    """One trainer per run folder: an exclusive ``flock`` on ``OUT/.trainer.lock``, held while the
    process lives (the kernel drops it when the process ends, kill -9 included).  Two trainers on
    one folder interleave their histories and overwrite each other's state.  Waits up to ``wait``
    seconds for the holder to end (a driver re-run while its killed predecessor's trainer saves
    its state), then raises ``FolderBusy`` naming the holder.  No lock where ``fcntl`` is missing
    (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() >= deadline:
                f.seek(0)
                holder = f.read().strip() or "a process"
                f.close()
                raise FolderBusy(
                    f"{out} is in use by another trainer ({holder}); one trainer per run folder: "
                    "wait for it to end, stop it, or give another --out"
                ) from None
            time.sleep(0.5)
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")  # informative only; the flock is the lock
    f.flush()
    return f


def _end_with_driver() -> None:
    """Started by a driver (``SRCORE_PARENT_PID``): when the driver dies, even by kill -9, this
    trainer gets SIGTERM, saves its state and ends, instead of training on as an orphan that a
    re-run would race.  Linux: PR_SET_PDEATHSIG; everywhere: a thread that watches the parent pid."""
    want = os.environ.get(PARENT_ENV)
    if not want or not want.isdigit():
        return
    parent = int(want)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the driver died before this process got here
        print(f"error: the driver (pid {parent}) has ended; not starting", file=sys.stderr)
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # the same graceful stop as the driver's own SIGTERM

    threading.Thread(target=watch, name="watch-driver", daemon=True).start()


def _worker_init(_: int) -> None:
    """Data workers leave Ctrl-C to the main process (which saves state and stops them) but die
    on SIGTERM: the main process's exit handler terminates them that way, and a worker that
    ignored it would hang the exit after any error for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _die_with_parent() -> None:
    """Under torchrun: a rank ends when its launcher dies (even by kill -9), instead of training on
    unsupervised; the last saved state is what ``--resume`` continues from."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() == 1:  # the launcher died before prctl took effect
            os._exit(1)


def _state_step(path: Path) -> int:
    """The step of a saved state from its header (no tensors read); -1 when there is none."""
    if not path.is_file():
        return -1
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return int(json.loads((f.metadata() or {})["json"])["extra"]["step"])
    except Exception as e:  # noqa: BLE001 - a damaged file (safetensors' own error type too): the load names it
        print(f"note: cannot read the step of {path}: {e}", file=sys.stderr)
        return -1


class Trainer:
    """Holds the networks, optimisers and data of one run; ``run()`` trains to the recipe's steps."""

    def __init__(
        self,
        cfg: TrainConfig,
        recipe: Recipe,
        arch: str = "default",
        resume: bool = False,
        model_info: dict | None = None,
    ):
        self.cfg, self.recipe = cfg, recipe
        self.model_info = model_info or {"key": cfg.name, "title": cfg.name, "loss": recipe.loss}
        self.out = Path(cfg.out_dir)
        self.ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank, self.world = 0, 1
        if cfg.device == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            dev = cfg.device
        if self.ddp:
            _die_with_parent()
            # a rank that stalls (or never arrives) ends the run after dist_timeout, not never
            dist.init_process_group("nccl" if dev == "cuda" else "gloo", timeout=timedelta(seconds=cfg.dist_timeout))
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            if dev == "cuda":
                dev = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
                torch.cuda.set_device(dev)
        self.device = torch.device(dev)
        self.main = self.rank == 0
        self._lock = lock_run_folder(self.out, cfg.lock_wait) if self.main else None
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        torch.manual_seed(cfg.seed)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

        arch_cfg = SEED_GENERATOR if arch == "seed" else GENERATOR
        # torch's stubs have no .to() overload taking a device and memory_format together; runtime accepts it
        self.G = Generator(GeneratorConfig(**arch_cfg.to_dict())).to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.init_note = None
        if recipe.init_from and not (resume and (self.out / STATE_FILE).is_file()):
            src, meta = load_generator_file(checkpoint_path(recipe.init_from), "cpu")
            if not src.cfg.same_weights_as(self.G.cfg):
                raise CheckpointError(f"{recipe.init_from}: architecture {src.cfg} differs from {self.G.cfg}")
            self.G.load_state_dict(src.state_dict())
            # the steps behind the start, along the whole chain (an init that was itself fine-tuned
            # from the pre-training counts both), so the Training plots place the arm where it began
            before = int((meta.get("init") or {}).get("init_steps") or 0)
            self.init_note = {"init_from": str(recipe.init_from), "init_steps": before + int(meta.get("steps") or 0)}
        self.D = Discriminator().to(self.device) if recipe.adversarial else None
        if self.D is not None and self.ddp and self.device.type == "cuda":
            # BatchNorm statistics over the global batch, so a GAN arm does not depend on how it is
            # split over GPUs (torch's SyncBatchNorm runs on GPUs only: CPU ranks keep per-rank BN)
            self.D = cast(Discriminator, torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.D))
        self.ema = copy.deepcopy(self.G).requires_grad_(False) if recipe.ema_decay > 0 else None
        self.loss = GeneratorLoss(recipe).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=recipe.lr, betas=recipe.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=recipe.lr_d, betas=recipe.betas) if self.D else None
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self._lr_factor)
        self.sched_d = (
            torch.optim.lr_scheduler.LambdaLR(self.opt_d, self._lr_factor) if self.opt_d is not None else None
        )
        self.G_train: torch.nn.Module = self.G
        self.D_train: torch.nn.Module | None = self.D
        if self.ddp:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = torch.nn.parallel.DistributedDataParallel(self.G, device_ids=ids)
            if self.D is not None:
                self.D_train = torch.nn.parallel.DistributedDataParallel(self.D, device_ids=ids)
        self.D_plain: torch.nn.Module | None = self.D
        if cfg.compile:
            # Under DDP the wrapper is compiled (torch's documented order: its DDPOptimizer splits the
            # graph at the gradient buckets so communication overlaps the backward); the generator's
            # forward has no graph break (tests/test_train_precision.py).  torch.compile of a Module
            # returns an OptimizedModule (a Module); its stub says Callable.
            self.G_train = cast(torch.nn.Module, torch.compile(self.G_train))
            if self.D_train is not None and self.D is not None:
                self.D_train = cast(torch.nn.Module, torch.compile(self.D_train))
                self.D_plain = cast(torch.nn.Module, torch.compile(self.D)) if self.ddp else self.D_train

        seed_preset = recipe.data == "seed"
        train_files, held_files = split_holdout(image_files(cfg.train_dirs), cfg.holdout)
        self.train_pairs = load_pairs(
            files=train_files,
            seed_preset=seed_preset,
            progress=cfg.progress and self.main,
            min_side=16 if seed_preset else recipe.patch,
        )
        self.dataset = CropDataset(self.train_pairs, recipe.patch, recipe.crops_per_image, recipe.augment, seed_preset)
        self.dataset.set_epoch(0, cfg.seed)
        need = recipe.batch * self.world
        if len(self.dataset) < need:  # never a smaller batch than asked for: refused
            raise ValueError(
                f"a batch of {recipe.batch} x {self.world} rank(s) needs {need} crops per epoch, but "
                f"{len(self.train_pairs)} training images x {recipe.crops_per_image} crops give {len(self.dataset)}: "
                "lower --batch or raise --crops-per-image"
            )
        self.val_pairs, self.val_set_of = [], []
        val_sources = [(f"held-out ({len(held_files)} of the training images)", held_files)] if held_files else []
        val_sources += [(Path(d).name, image_files([d])) for d in cfg.val_dirs]
        for label, files in val_sources:
            pairs = load_pairs(files=files, progress=False)
            if cfg.val_max_side:
                pairs = fixed_crops(pairs, cfg.val_max_side)
            self.val_pairs += pairs
            self.val_set_of += [label] * len(pairs)
        self.held_out = [f"{p.parent.name}/{p.name}" for p in held_files]
        self.picture_pairs = fixed_crops(self.val_pairs[:3], 128)
        self.lpips = LPIPS().to(self.device) if self.val_pairs and self.main else None
        self.step = 0
        self.last_val: tuple[int, dict] | None = None  # (step, metrics) of the latest validation
        self.stop_requested = False
        self.wall_before = 0.0
        self.hist_path = self.out / HISTORY_FILE
        self._save_thread: threading.Thread | None = None
        self._save_error: BaseException | None = None
        self._loader_iter: Iterator[Any] | None = None

    # ------------------------------------------------------------ schedule
    def _lr_factor(self, step: int) -> float:
        r = self.recipe
        if r.warmup and step < r.warmup:
            return (step + 1) / r.warmup
        if r.schedule == "constant":
            return 1.0
        t = min(1.0, (step - r.warmup) / max(1, r.steps - r.warmup))
        return r.min_lr_ratio + (1 - r.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // (self.recipe.batch * self.world)  # >= 1: checked in __init__

    def _loader(self) -> DataLoader:
        """One loader for the rest of the run: batches from the current step on, persistent
        workers (forked once, not every epoch), prefetching, pinned memory on GPU."""
        sampler = EpochBatches(
            len(self.dataset), self.recipe.batch, self.cfg.seed, self.step, self.recipe.steps, self.rank, self.world
        )
        w = self.cfg.workers
        return DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=w,
            persistent_workers=w > 0,
            prefetch_factor=2 if w else None,  # measured: 4 cost more (benchmarks/train_speed.py)
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init if w else None,
            timeout=self.cfg.data_timeout if w else 0,  # a stalled worker ends the run, never hangs it
        )

    def _stop_loader(self) -> None:
        """End the data workers now (after an error too), so the process can exit promptly."""
        it, self._loader_iter = self._loader_iter, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    # ------------------------------------------------------------ state
    def state_modules(self) -> dict:
        return {"G": self.G, "D": self.D, "EMA": self.ema}

    def state_optims(self) -> dict:
        return {"g": self.opt_g, "d": self.opt_d, "sched_g": self.sched_g, "sched_d": self.sched_d}

    def save_state(self, wait: bool = False) -> None:
        """Snapshot now (a copy on the host), write in a background thread: training does not wait
        for the disk.  Atomic, so a kill -9 leaves the previous state or this one."""
        if not self.main:
            return
        self.wait_for_save()
        extra = {
            "step": self.step,
            "wall": self.wall_before + (time.time() - self.t_start),
            "recipe": self.recipe.to_dict(),
            "name": self.cfg.name,
            "init": self.init_note,
            "model": self.model_info,
        }
        snap = snapshot_train_state(self.state_modules(), self.state_optims(), extra)

        def write() -> None:
            try:
                write_train_state(self.out / STATE_FILE, *snap)
            except BaseException as e:  # noqa: BLE001 - any failure is re-raised in the training thread by wait_for_save
                self._save_error = e

        self._save_thread = threading.Thread(target=write, name="save-state", daemon=False)
        self._save_thread.start()
        if wait:
            self.wait_for_save()

    def wait_for_save(self) -> None:
        if self._save_thread is not None:
            self._save_thread.join()
            self._save_thread = None
        if self._save_error is not None:
            e, self._save_error = self._save_error, None
            raise e

    def try_resume(self) -> bool:
        """Continue from the saved state.  Under DDP the newest state any rank can read is the
        truth, wherever rank 0 lands: every rank reports the step of ``OUT/state.safetensors`` on
        its own disk, and the state and history of the rank with the newest (rank 0 on a tie) are
        broadcast; rank 0 writes them into its folder when they came from another node.  So node-
        local disks work, and a shared folder is read once."""
        path = self.out / STATE_FILE
        if self.main:  # temporary files of saves cut short by a kill -9 (never loaded; see srcore.atomic)
            for stale in self.out.glob(f".{STATE_FILE}.*.tmp"):
                stale.unlink(missing_ok=True)
        data = None
        if self.ddp:
            mine = torch.tensor([_state_step(path)], dtype=torch.int64, device=self._comm_device)
            parts = [torch.empty_like(mine) for _ in range(self.world)]
            dist.all_gather(parts, mine)
            steps = torch.cat(parts).cpu()
            best = int(steps.max())
            if best < 0:
                return False
            src = int((steps == best).nonzero()[0])  # the lowest rank holding the newest state
            data = self._broadcast_bytes(path.read_bytes() if self.rank == src else b"", src)
            hist = self._broadcast_bytes(
                self.hist_path.read_bytes() if self.rank == src and self.hist_path.is_file() else b"", src
            )
            if self.main and src != 0:
                write_bytes_atomic(path, data)
                write_bytes_atomic(self.hist_path, hist)
                print(
                    f"note: rank 0 ({socket.gethostname()}) had {'no state' if int(steps[0]) < 0 else f'step {int(steps[0])}'}"
                    f" in {self.out}; resuming from rank {src}'s state at step {best}, copied here",
                    file=sys.stderr,
                )
        elif not path.is_file():
            return False
        extra = load_train_state(path, self.state_modules(), self.state_optims(), data=data)
        self.step = int(extra["step"])
        self.wall_before = float(extra.get("wall", 0.0))
        self.init_note = extra.get("init")
        if self.main:
            history.truncate_after(self.hist_path, self.step, {"recipe": self.recipe.to_dict()})
        return True

    def _broadcast_bytes(self, data: bytes, src: int) -> bytes:
        """``data`` of rank ``src`` on every rank."""
        n = torch.tensor([len(data)], dtype=torch.int64, device=self._comm_device)
        dist.broadcast(n, src)
        if int(n) == 0:
            return b""
        buf = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self._comm_device)
            if self.rank == src
            else torch.empty(int(n), dtype=torch.uint8, device=self._comm_device)
        )
        dist.broadcast(buf, src)
        return data if self.rank == src else bytes(buf.cpu().numpy())

    def close(self) -> None:
        """End the data workers and leave the run folder to the next trainer."""
        self._stop_loader()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    # ------------------------------------------------------------ evaluation
    @torch.inference_mode()
    def validate(self) -> dict:
        model = (self.ema or self.G).eval()
        ps, ss, lp, mses, vggs = [], [], [], [], []
        for hr, lr, _ in self.val_pairs:  # noqa: B007
            sr_t = sr_tensor(model, to_tensor(lr).unsqueeze(0).to(self.device), tile=DEFAULT_TILE)
            hr_t = to_tensor(hr).unsqueeze(0).to(self.device)
            sr = to_uint8(sr_t)
            ps.append(psnr(sr, hr))
            ss.append(ssim(sr, hr))
            sr_c = sr_t.clamp(0, 1)
            assert self.lpips is not None  # built whenever there are validation pairs on the main rank
            lp.append(float(self.lpips(sr_c[..., 4:-4, 4:-4], hr_t[..., 4:-4, 4:-4])))
            mses.append(float(mse_loss(sr_c, hr_t)))
            if self.loss.vgg is not None:
                vggs.append(float(self.loss.vgg(sr_c, hr_t)))
        self.G.train()
        rec = {
            "psnr_y": float(np.mean(ps)),
            "ssim_y": float(np.mean(ss)),
            "lpips": float(np.mean(lp)),
            "val_mse": float(np.mean(mses)),
        }
        if vggs:
            rec["val_vgg"] = float(np.mean(vggs))
        sets = np.array(self.val_set_of)
        if len(set(self.val_set_of)) > 1:  # per-set figures too, e.g. "Set5/psnr_y"
            for name in dict.fromkeys(self.val_set_of):
                m = sets == name
                for key, vals in (("psnr_y", ps), ("ssim_y", ss), ("lpips", lp)):
                    rec[f"{name}/{key}"] = float(np.mean(np.asarray(vals)[m]))
        return rec

    @torch.inference_mode()
    def save_pictures(self) -> list[str]:
        model = (self.ema or self.G).eval()
        saved = []
        pic_dir = self.out / "pictures"
        pic_dir.mkdir(parents=True, exist_ok=True)
        for hr, lr, name in self.picture_pairs:
            for kind, img in (("lr", lr), ("hr", hr)):  # the crop's input and original, once, for the viewer
                if not (pic_dir / f"{name}_{kind}.png").is_file():
                    Image.fromarray(img).save(pic_dir / f"{name}_{kind}.png")
            sr = to_uint8(model(to_tensor(lr).unsqueeze(0).to(self.device)))
            p = pic_dir / f"{name}_step{self.step:06d}.png"
            Image.fromarray(sr).save(p)
            saved.append(p.name)
        self.G.train()
        return saved

    # ------------------------------------------------------------ training
    def _ema_update(self) -> None:
        if self.ema is None:
            return
        d = self.recipe.ema_decay
        with torch.no_grad():
            for pe, p in zip(self.ema.parameters(), self.G.parameters()):
                pe.lerp_(p, 1 - d)

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimiser step of D (adversarial objectives) and G; loss values come back as
        detached device tensors, so nothing here waits for the device."""
        rec: dict[str, torch.Tensor] = {}
        ac = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)
        with ac:
            sr = self.G_train(lr)
        if self.D is not None:
            assert self.D_train is not None and self.opt_d is not None and self.sched_d is not None
            with ac:
                real = self.D_train(hr)
                fake = self.D_train(sr.detach())
                d_loss = discriminator_loss(real.float(), fake.float())
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            self.sched_d.step()
            rec.update(
                d_loss=d_loss.detach(),
                d_real=torch.sigmoid(real.detach().float()).mean(),
                d_fake=torch.sigmoid(fake.detach().float()).mean(),
            )
        with ac:
            # the G step's D forward: no DDP wrapper (D is not updated from it, so no gradient sync)
            fake_g = self.D_plain(sr).float() if self.D_plain is not None else None
            total, terms = self.loss(sr.float(), hr, fake_g)
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_d is not None:  # the G step's backward also filled D's grads; they are dropped
            total.backward(inputs=list(self.G.parameters()))
        else:
            total.backward()
        if self.recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.G.parameters(), self.recipe.grad_clip)
        self.opt_g.step()
        self.sched_g.step()
        self._ema_update()
        rec.update(terms, g_loss=total.detach())
        return rec

    def _request_stop(self, signum, frame) -> None:  # noqa: ARG002
        self.stop_requested = True

    def _read_means(self, sums: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        """Means of the accumulated loss values: one host read per log line, averaged over ranks."""
        keys = list(sums)
        vec = torch.stack([sums[k].float() for k in keys]) / max(n, 1)
        if self.ddp:
            vec = vec.to(self._comm_device)
            dist.all_reduce(vec)
            vec /= self.world
        return dict(zip(keys, vec.tolist()))

    def run(self) -> None:
        cfg, r = self.cfg, self.recipe
        self.t_start = time.time()
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if (
                self.step == 0
            ):  # a fresh run replaces any history left in the folder (e.g. killed before its first save)
                write_text_atomic(self.hist_path, "")
                history.append(
                    self.hist_path,
                    {
                        "kind": "meta",
                        "step": 0,
                        "name": cfg.name,
                        "model": self.model_info,
                        "recipe": r.to_dict(),
                        "arch": self.G.cfg.to_dict(),
                        "train_images": len(self.train_pairs),
                        "train_dirs": cfg.train_dirs,
                        "val_images": len(self.val_pairs),
                        "val_dirs": cfg.val_dirs,
                        "held_out": self.held_out,
                        "device": str(self.device),
                        "world_size": self.world,
                        "batches_per_epoch": self.batches_per_epoch,
                        "images_per_step": r.batch * self.world,
                        "init": self.init_note,
                    },
                )
                if self.val_pairs:
                    history.append(self.hist_path, {"kind": "val", "step": 0, "epoch": 0.0, **self.validate()})
                    history.append(self.hist_path, {"kind": "picture", "step": 0, "files": self.save_pictures()})
        stop_signals = (signal.SIGINT,) if self.ddp else (signal.SIGTERM, signal.SIGINT)  # DDP: SIGTERM ends at once
        old = {s: signal.signal(s, self._request_stop) for s in stop_signals}
        self.G.train()
        sums: dict[str, torch.Tensor] = {}
        n_acc = 0
        t_log, n_img = time.time(), 0
        bar = tqdm(
            total=r.steps,
            initial=self.step,
            desc=cfg.name,
            disable=not (cfg.progress and self.main),
            dynamic_ncols=True,
        )
        try:
            if self.step < r.steps and not self.stop_requested:
                self._loader_iter = iter(self._loader())
                for lr, hr in self._loader_iter:
                    lr = batch_to_device(lr, self.device, self.memory_format)
                    hr = batch_to_device(hr, self.device, self.memory_format)
                    rec = self.train_step(lr, hr)
                    self.step += 1
                    n_img += lr.shape[0] * self.world
                    for k, v in rec.items():
                        sums[k] = sums[k] + v if k in sums else v.clone()
                    n_acc += 1
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.step == r.steps:
                        line = self._read_means(sums, n_acc)
                        dt = time.time() - t_log
                        if self.main:
                            history.append(
                                self.hist_path,
                                {
                                    "kind": "train",
                                    "step": self.step,
                                    "epoch": self.step / self.batches_per_epoch,
                                    "images_seen": self.step * r.batch * self.world,
                                    "lr": self.opt_g.param_groups[0]["lr"],
                                    **line,
                                    "images_per_s": n_img / max(dt, 1e-9),
                                    "wall": self.wall_before + time.time() - self.t_start,
                                },
                            )
                            bar.set_postfix(
                                {k: f"{v:.4g}" for k, v in line.items() if k in ("g_loss", "d_real", "d_fake")}
                            )
                        sums, n_acc, t_log, n_img = {}, 0, time.time(), 0
                    if self.main and self.val_pairs and (self.step % cfg.val_every == 0 or self.step == r.steps):
                        val = self.validate()
                        self.last_val = (self.step, val)
                        history.append(
                            self.hist_path,
                            {"kind": "val", "step": self.step, "epoch": self.step / self.batches_per_epoch, **val},
                        )
                        bar.write(f"step {self.step}: " + ", ".join(f"{k} {x:.4f}" for k, x in val.items()))
                    if self.main and self.val_pairs and (self.step % cfg.picture_every == 0 or self.step == r.steps):
                        history.append(
                            self.hist_path, {"kind": "picture", "step": self.step, "files": self.save_pictures()}
                        )
                    if self.step % cfg.save_every == 0 or self.step == r.steps:
                        self.save_state(wait=self.step == r.steps)
                    if self.step >= r.steps or self.stop_requested:
                        break
            if self.stop_requested:
                self.save_state(wait=True)
                if self.main:
                    print(
                        f"stopped at step {self.step}; state saved to {self.out / STATE_FILE} (resume with --resume)",
                        file=sys.stderr,
                    )
        finally:
            self._stop_loader()
            self.wait_for_save()
            bar.close()
            for s, h in old.items():
                signal.signal(s, h)

    def final_metrics(self) -> dict:
        """Validation metrics of the current weights: the last step's, unless it was not validated
        (e.g. a finished run resumed), in which case they are computed now."""
        if not self.val_pairs:
            return {}
        if self.last_val is not None and self.last_val[0] == self.step:
            return self.last_val[1]
        return self.validate()

    def export(self, path: str | Path, final_metrics: dict | None = None) -> Path:
        model = self.ema or self.G
        hist = history.read(self.hist_path)
        wall = max((h.get("wall", 0) for h in hist if h.get("kind") == "train"), default=0.0)
        speed = [h["images_per_s"] for h in hist if h.get("kind") == "train" and "images_per_s" in h]
        hardware = (
            torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
        return save_generator(
            model,
            path,
            name=self.cfg.name,
            recipe=self.recipe.to_dict(),
            steps=self.step,
            data={
                "train_dirs": [Path(d).name for d in self.cfg.train_dirs],
                "train_images": len(self.train_pairs),
                "val_dirs": [Path(d).name for d in self.cfg.val_dirs],
                "degradation": "MATLAB bicubic x4",
            },
            metrics=final_metrics or {},
            hardware=hardware,
            world_size=self.world,
            train_seconds=round(wall, 1),
            images_per_s=round(float(np.median(speed)), 2) if speed else None,
            init=self.init_note,
            ema=self.ema is not None,
            model=self.model_info,
            held_out=self.held_out,
        )


def _number(kind: type, lo: float, strict: bool, hi: float | None = None):
    """An argparse type: a number of ``kind`` above ``lo`` (or at least, when not ``strict``), and
    below ``hi``: a zero interval or batch is refused with a message (exit 2), never a
    ZeroDivisionError or a hang later."""
    word = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {word}") from None
        if not math.isfinite(v) or (v <= lo if strict else v < lo) or (hi is not None and v >= hi):
            rng = f"> {lo:g}" if strict else f">= {lo:g}"
            raise argparse.ArgumentTypeError(
                f"must be a {word} {rng}{f' and < {hi:g}' if hi is not None else ''}, not {text}"
            )
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT, POSITIVE, NONNEG_INT = _number(int, 0, True), _number(float, 0, True), _number(int, 0, False)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m srcore.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Numbers: counts, intervals, rates and timeouts must be > 0; --holdout, --warmup, --workers, "
        "--threads, --seed and --val-max-side may be 0; --ema-decay is in [0, 1) (0: no EMA).",
    )
    p.add_argument("name", help=f"model key: one of the table ({', '.join(BY_KEY)}) or a new name with --loss")
    p.add_argument("--train-dir", action="append", required=True, help="folder of HR training images (repeatable)")
    p.add_argument(
        "--holdout",
        type=NONNEG_INT,
        default=0,
        help="hold out this many training images (chosen by name hash) for validation",
    )
    p.add_argument("--out", default=None, help="run folder (state, history, pictures); default runs/NAME")
    p.add_argument(
        "--export", default=None, help="write the final generator here (.safetensors; default: not exported)"
    )
    p.add_argument(
        "--recipe",
        choices=["finetune", "report"],
        default="finetune",
        help="finetune (default: MSE from scratch, other losses fine-tuned) or report (the report's settings)",
    )
    p.add_argument(
        "--arch",
        choices=["default", "seed"],
        default="default",
        help="default: the comparison's network (srcore.zoo.GENERATOR); seed: the report's network",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from RUN/state.safetensors if present (default: start afresh)"
    )
    p.add_argument(
        "--loss", default=None, help='objective as weighted terms, e.g. "vgg=1,adv=1e-3" (default: the table\'s)'
    )
    p.add_argument("--title", default=None, help="display title of a new model (default: its name)")
    p.add_argument("--description", default=None, help="one line on what a new model is (default: its loss)")
    for k, t in (
        ("steps", POSITIVE_INT),
        ("batch", POSITIVE_INT),
        ("patch", POSITIVE_INT),
        ("lr", POSITIVE),
        ("lr-d", POSITIVE),
        ("ema-decay", _number(float, 0, False, 1.0)),
        ("warmup", NONNEG_INT),
        ("crops-per-image", POSITIVE_INT),
        ("vgg-feature-scale", POSITIVE),
    ):
        p.add_argument(f"--{k}", type=t, default=None, help="override the recipe")
    p.add_argument("--init-from", default=None, help="zoo name or checkpoint to fine-tune from")
    p.add_argument("--schedule", choices=["cosine", "constant"], default=None)
    p.add_argument(
        "--save-every", type=POSITIVE_INT, default=200, help="steps between saved states (default %(default)s)"
    )
    p.add_argument(
        "--val-every", type=POSITIVE_INT, default=500, help="steps between validations (default %(default)s)"
    )
    p.add_argument("--picture-every", type=POSITIVE_INT, default=1000, help="steps between progress pictures")
    p.add_argument("--log-every", type=POSITIVE_INT, default=10, help="read loss values from the device every N steps")
    p.add_argument(
        "--val-max-side", type=NONNEG_INT, default=0, help="centre-crop validation images (HR px; 0 = whole)"
    )
    p.add_argument("--workers", type=NONNEG_INT, default=2, help="data worker processes (0: load in the trainer)")
    p.add_argument("--threads", type=NONNEG_INT, default=0, help="CPU threads for torch (0 = default)")
    p.add_argument("--seed", type=NONNEG_INT, default=0)
    p.add_argument(
        "--data-timeout",
        type=POSITIVE,
        default=300.0,
        help="seconds a data worker may take for a batch; then the run ends with an error (default %(default)s)",
    )
    p.add_argument(
        "--dist-timeout",
        type=POSITIVE,
        default=1800.0,
        help="torchrun: seconds a collective waits for the other ranks; then the run ends (default %(default)s)",
    )
    p.add_argument(
        "--lock-wait",
        type=_number(float, 0, False),
        default=0.0,
        help="seconds to wait for another trainer to leave the run folder before refusing (default %(default)s)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on GPU")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format (GPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cudnn.benchmark off on GPU (default: on)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels only (errors if one has none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def build(a: argparse.Namespace) -> tuple[TrainConfig, Recipe, dict]:
    """The run's config, recipe and model description (title, objective) from the CLI arguments."""
    known = BY_KEY.get(a.name)
    if known is None and not a.loss:
        raise ValueError(f"{a.name!r} is not in the model table ({', '.join(BY_KEY)}); give its objective with --loss")
    loss = parse_loss(a.loss) if a.loss else dict(known.loss)  # type: ignore[union-attr]
    base = report_recipe(loss) if a.recipe == "report" else finetune_recipe(loss, a.init_from)
    recipe = base.updated(
        steps=a.steps,
        batch=a.batch,
        patch=a.patch,
        lr=a.lr,
        lr_d=a.lr_d,
        ema_decay=a.ema_decay,
        warmup=a.warmup,
        crops_per_image=a.crops_per_image,
        init_from=a.init_from,
        schedule=a.schedule,
        vgg_feature_scale=a.vgg_feature_scale,
    )
    info = {
        "key": a.name,
        "title": a.title or (known.title if known else a.name),
        "loss": recipe.loss,
        "description": a.description or (known.description if known else format_loss(recipe.loss)),
    }
    cfg = TrainConfig(
        name=a.name,
        train_dirs=a.train_dir,
        val_dirs=a.val_dir,
        out_dir=a.out or f"runs/{a.name}",
        export=a.export,
        save_every=a.save_every,
        val_every=a.val_every,
        picture_every=a.picture_every,
        log_every=a.log_every,
        workers=a.workers,
        seed=a.seed,
        device=a.device,
        amp=not a.no_amp,
        deterministic=a.deterministic,
        threads=a.threads,
        val_max_side=a.val_max_side,
        progress=not a.no_progress,
        holdout=a.holdout,
        channels_last=a.channels_last,
        compile=a.compile,
        cudnn_benchmark=not a.no_cudnn_benchmark,
        data_timeout=a.data_timeout,
        dist_timeout=a.dist_timeout,
        lock_wait=a.lock_wait,
    )
    return cfg, recipe, info


def main(argv=None) -> int:
    a = parse_args(argv)
    _end_with_driver()
    tr = None
    try:
        cfg, recipe, info = build(a)
        tr = Trainer(cfg, recipe, arch=a.arch, resume=a.resume, model_info=info)
        if a.resume and tr.try_resume() and tr.main:
            print(f"resumed {cfg.name} at step {tr.step} from {Path(cfg.out_dir) / STATE_FILE}", file=sys.stderr)
        tr.run()
        if tr.main and tr.step >= recipe.steps:
            final = tr.final_metrics()
            path = tr.export(a.export or Path(cfg.out_dir) / f"{a.name}.safetensors", final)
            print(f"exported {path} after {tr.step} steps" + (f": {final}" if final else ""), file=sys.stderr)
    except (FileNotFoundError, ImageLoadError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug or a failed device: say so and end now (data workers included), never hang
        traceback.print_exc()
        lines = str(e).strip().splitlines()  # a data worker's error arrives wrapped with its traceback
        if "DataLoader timed out" in str(e):
            print(
                f"error: training failed: a data worker gave no batch within {a.data_timeout:g} s (--data-timeout)",
                file=sys.stderr,
            )
        elif "DataLoader worker" in str(e):
            print(f"error: training failed in a data worker: {lines[-1]}", file=sys.stderr)
        else:
            print(f"error: training failed: {type(e).__name__}: {lines[-1] if lines else ''}", file=sys.stderr)
        return 1
    finally:
        if tr is not None:
            tr.close()
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
