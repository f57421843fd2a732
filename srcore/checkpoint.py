"""Generator checkpoints (.safetensors + JSON metadata) and resumable training states.

Nothing here unpickles: tensors go through safetensors, everything else through JSON in the
file's metadata.  Every write is atomic (see ``srcore.atomic``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import load_file, safe_open, save_file

from srcore import paths
from srcore.atomic import atomic_path
from srcore.models.generator import Generator, GeneratorConfig

FORMAT = "srcore-generator-v1"
STATE_FORMAT = "srcore-train-state-v1"


_PLAIN_STRINGS = ("git_commit", "format", "name")


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged or not a generator; the message names the file."""


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_generator(generator: Generator, path: str | Path, **meta: Any) -> Path:
    """Write a generator's weights with its architecture and provenance (JSON) as metadata."""
    path = Path(path)
    md = {"format": FORMAT, "arch": json.dumps(generator.cfg.to_dict()), "git_commit": git_commit()}
    md.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    state = {k: v.detach().float().contiguous().cpu() for k, v in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=md)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded metadata of a generator checkpoint (JSON values parsed)."""
    path = Path(path)
    if not path.is_file():
        hint = "" if path.parent.is_dir() else f" (no such folder: {paths.missing_hint()})"
        raise CheckpointError(f"checkpoint not found: {path}{hint}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is damaged or not a safetensors file ({e})") from None
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k in _PLAIN_STRINGS and not v.startswith('"'):  # "0e44762" would parse as the number 0.0
            out[k] = v
            continue
        try:
            out[k] = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            out[k] = v
    return out


def load_generator_file(path: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    """Load a generator checkpoint; raise CheckpointError naming the file if anything is wrong."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: only .safetensors checkpoints are accepted")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an srcore generator checkpoint (format={meta.get('format')!r})")
    try:
        state = load_file(str(path), device=str(device))
        model = Generator(GeneratorConfig.from_dict(meta["arch"]))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, RuntimeError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} could not be loaded ({e})") from None
    for p in model.parameters():
        if not torch.isfinite(p).all():
            raise CheckpointError(f"checkpoint {path} holds non-finite weights")
    return model.to(device).eval(), meta


# ---------------------------------------------------------------- training state


def _flatten_optimizer(prefix: str, opt_state: dict, tensors: dict, meta: dict) -> None:
    meta[prefix] = {"param_groups": opt_state["param_groups"], "scalars": {}}
    for idx, st in opt_state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v.detach().cpu().clone().contiguous()
            else:
                meta[prefix]["scalars"][f"{idx}.{k}"] = v


def _unflatten_optimizer(prefix: str, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta[prefix]["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    return {"state": state, "param_groups": meta[prefix]["param_groups"]}


def snapshot_train_state(
    modules: dict[str, torch.nn.Module | None], optimizers: dict[str, Any], extra: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Private CPU copies of everything a training state holds, so it can be written in the
    background while training goes on (``write_train_state``)."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"format": STATE_FORMAT, "extra": extra, "modules": [], "optimizers": []}
    for name, mod in modules.items():
        if mod is None:
            continue
        meta["modules"].append(name)
        for k, v in mod.state_dict().items():
            tensors[f"{name}::{k}"] = v.detach().cpu().clone().contiguous()
    for name, opt in optimizers.items():
        if opt is None:
            continue
        meta["optimizers"].append(name)
        sd = opt.state_dict()
        if isinstance(opt, torch.optim.Optimizer):
            _flatten_optimizer(f"opt_{name}", sd, tensors, meta)
        else:  # LR scheduler: plain JSON
            meta[f"opt_{name}"] = {"scheduler": sd}
    tensors["rng::torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng::cuda{i}"] = s
    return tensors, meta


def write_train_state(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write a snapshot atomically (a kill -9 leaves the previous state or this one)."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"json": json.dumps(meta)})


def save_train_state(
    path: str | Path, modules: dict[str, torch.nn.Module | None], optimizers: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Write modules, optimiser/scheduler states, RNG states and ``extra`` (JSON) in one atomic file."""
    write_train_state(path, *snapshot_train_state(modules, optimizers, extra))


def load_train_state(
    path: str | Path, modules: dict[str, torch.nn.Module | None], optimizers: dict[str, Any], data: bytes | None = None
) -> dict:
    """Restore what ``save_train_state`` wrote (from ``path``, or from its bytes ``data`` as
    broadcast by rank 0 under DDP); returns its ``extra`` dict."""
    path = Path(path)
    try:
        if data is None:
            data = path.read_bytes()
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["json"])
        tensors = safetensors_load(data)
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"training state {path} is damaged ({e})") from None
    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not an srcore training state")
    for name, mod in modules.items():
        if mod is None:
            continue
        sd = {k.split("::", 1)[1]: v for k, v in tensors.items() if k.startswith(name + "::")}
        mod.load_state_dict(sd, strict=True)
    for name, opt in optimizers.items():
        if opt is None:
            continue
        entry = meta[f"opt_{name}"]
        if "scheduler" in entry:
            opt.load_state_dict(entry["scheduler"])
        else:
            opt.load_state_dict(_unflatten_optimizer(f"opt_{name}", tensors, meta))
    torch.set_rng_state(tensors["rng::torch"])
    if torch.cuda.is_available():
        cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng::cuda")]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    return meta["extra"]
