"""The JSONL training history: one JSON object per line, appended as training goes.

Records have a ``kind``: "train" (loss terms, lr, D outputs, speed), "val" (PSNR/SSIM/LPIPS and
validation losses), "picture" (paths of progress pictures), "meta" (run description).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srcore.atomic import write_text_atomic


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def append(path: str | Path, record: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        f.flush()


def read(path: str | Path) -> list[dict[str, Any]]:
    """All complete records; a torn last line (crash mid-write) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_after(path: str | Path, step: int, meta_update: dict[str, Any] | None = None) -> None:
    """Drop records logged after ``step`` (they will be logged again after a resume); optionally
    update the "meta" record (a resumed run may have been given a new step count)."""
    recs: Iterable[dict] = [r for r in read(path) if r.get("step", 0) <= step or r.get("kind") == "meta"]
    if meta_update:
        recs = [{**r, **meta_update} if r.get("kind") == "meta" else r for r in recs]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in recs))
