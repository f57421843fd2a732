"""Fetch the training and evaluation images: ``python -m srcore.data fetch T91 BSD68 ...`` (or ``srcore-data``).

Every dataset of ``srcore/datasets.json`` is a list of files, each pinned by URL (a fixed commit of
a public repository) and SHA-256, or an archive (DIV2K) to unpack.  A download goes to a ``.part``
file next to its destination and resumes from there (HTTP Range) after an interruption; a file is
published under its name only once its SHA-256 matches, so a folder never holds a damaged image.
A file already present with the right hash is not downloaded again.  The layout is the one the
README's commands read: ``data/train/{T91,BSD68,McMaster,DIV2K}`` and
``data/eval/{Set5,Set14,Kodak24,DIV2K-valid}``.  An archive or file without a pinned hash is only
fetched with ``--allow-unpinned``, and its SHA-256 is printed so that it can be pinned.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from srcore import cli

MANIFEST = Path(__file__).with_name("datasets.json")
DEFAULT_ROOT = Path("data")
CHUNK = 1 << 16
TIMEOUT_S = 60
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class FetchError(RuntimeError):
    """A download or check that failed; the message names the file and what to do."""


@dataclass
class Item:
    """One thing to download: an image or an archive."""

    name: str
    url: str
    sha256: str | None
    size: int | None
    strip: str = ""  # archives: the member prefix removed when laying the images out


def load_manifest(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The datasets by name (keys starting with ``_`` are comments)."""
    p = Path(path) if path is not None else MANIFEST
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise FetchError(f"cannot read the dataset list {p}: {e}") from None
    return {k: v for k, v in data.items() if not k.startswith("_")}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(item: Item, dest: Path, bar: tqdm | None = None) -> str:
    """Download ``item`` to ``dest`` through ``dest.part`` (resumed if present); returns the
    SHA-256 of the result.  The file is moved to ``dest`` only when the hash matches the pin;
    a mismatch removes the partial file (so the next run starts clean) and raises FetchError."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if item.size is not None and have > item.size:
        part.unlink()
        have = 0
    req = urllib.request.Request(item.url, headers={"User-Agent": "sr-loss-lab/srcore.data"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            if have and r.status != 206:  # the server ignored the range: start again
                have = 0
            if bar is not None:
                if item.size is None and r.headers.get("Content-Length"):
                    bar.total = (bar.total or 0) + have + int(r.headers["Content-Length"])
                    bar.refresh()
                bar.update(have)
            with open(part, "ab" if have else "wb") as f:
                while chunk := r.read(CHUNK):
                    f.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range starts at the end: the part is whole already
            pass
        else:
            raise FetchError(f"could not download {item.url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(
            f"could not download {item.url}: {reason} (run the command again to resume; {part.name} is kept)"
        ) from None
    digest = sha256_of(part)
    if item.sha256 is not None and digest != item.sha256.lower():
        part.unlink(missing_ok=True)
        raise FetchError(
            f"SHA-256 mismatch for {item.url}: expected {item.sha256}, got {digest}; the download was removed "
            "(a corrupted transfer, or the file changed at the source)"
        )
    os.replace(part, dest)
    return digest


def _safe_members(names: Sequence[str], strip: str) -> dict[str, str]:
    """{archive member: relative path under the dataset folder} for the images under ``strip``;
    a member that would land outside the folder (absolute, ``..``) raises FetchError."""
    out = {}
    for n in names:
        p = PurePosixPath(n)
        if p.is_absolute() or ".." in p.parts:
            raise FetchError(f"refusing archive member {n!r}: it points outside the target folder")
        if not n.startswith(strip) or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        rel = n[len(strip) :]
        if rel:
            out[n] = rel
    return out


def unpack(archive: Path, strip: str, folder: Path) -> int:
    """Lay the archive's images (members under ``strip``) out in ``folder``; built in a temporary
    sibling folder and renamed into place, so ``folder`` appears complete or not at all."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = _safe_members([i.filename for i in z.infolist() if not i.is_dir()], strip)
                for m, rel in members.items():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(m) as src, open(tmp / rel, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                files = [i for i in t.getmembers() if i.isfile()]
                members = _safe_members([i.name for i in files], strip)
                for info in files:
                    if info.name in members:
                        rel = members[info.name]
                        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                        member = t.extractfile(info)
                        if member is None:
                            continue
                        with member, open(tmp / rel, "wb") as dst:
                            shutil.copyfileobj(member, dst)
        else:
            raise FetchError(f"{archive.name} is neither a zip nor a tar archive")
        if not members:
            raise FetchError(f"{archive.name} holds no images under {strip or 'its top level'!r}")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return len(members)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _to_png(path: Path) -> Path:
    """A BMP / TIFF image re-saved losslessly as PNG (same pixels, decoded once by Pillow)."""
    from PIL import Image

    from srcore.atomic import atomic_path

    out = path.with_suffix(".png")
    with Image.open(path) as im:
        im.load()
        rgb = im.convert("RGB") if im.mode not in ("RGB", "L") else im
        with atomic_path(out) as tmp:
            rgb.save(tmp, format="PNG")
    return out


def _items(spec: dict[str, Any]) -> tuple[list[Item], list[Item]]:
    files = [Item(f["name"], f["url"], f.get("sha256"), f.get("size")) for f in spec.get("files", [])]
    archives = [
        Item(a["name"], a["url"], a.get("sha256"), a.get("size"), a.get("strip", "")) for a in spec.get("archives", [])
    ]
    return files, archives


def fetch(
    name: str,
    spec: dict[str, Any],
    root: Path = DEFAULT_ROOT,
    allow_unpinned: bool = False,
    progress: bool = True,
    log=print,
) -> Path:
    """Fetch one dataset into ``root / spec["folder"]``; returns the folder."""
    folder = root / spec["folder"]
    files, archives = _items(spec)
    unpinned = [i.name for i in files + archives if not i.sha256]
    if unpinned and not allow_unpinned:
        raise FetchError(
            f"{name}: no SHA-256 is pinned for {', '.join(unpinned)} (its host could not be checked when the list "
            "was written); pass --allow-unpinned to fetch it anyway, and its SHA-256 is printed for pinning"
        )
    convert = spec.get("convert")
    # what is already there with the right hash (or, converted, its PNG) is not fetched again
    todo = []
    for it in files:
        dest = folder / it.name
        if convert and dest.with_suffix(f".{convert}").is_file() and not dest.exists():
            continue
        if dest.is_file() and (it.sha256 is None or sha256_of(dest) == it.sha256):
            continue
        todo.append(it)
    done_marker = folder / ".complete"
    pending_archives = [] if done_marker.is_file() else archives
    total = sum(i.size or 0 for i in todo + pending_archives)
    if not todo and not pending_archives:
        log(f"{name}: already complete in {folder}")
        return folder
    bar = tqdm(total=total or None, desc=name, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress)
    try:
        for it in todo:
            dest = folder / it.name
            digest = download(it, dest, bar)
            if it.sha256 is None:
                log(f"{name}: {it.name} SHA-256 {digest} (not pinned)")
            if convert and dest.suffix.lower() != f".{convert}":
                _to_png(dest)
                dest.unlink()
        for it in pending_archives:
            cache = root / ".downloads" / it.name
            digest = sha256_of(cache) if cache.is_file() else download(it, cache, bar)
            if it.sha256 is not None and digest != it.sha256:
                cache.unlink()
                raise FetchError(f"{cache} does not match its pinned SHA-256; removed, run again to download it anew")
            if it.sha256 is None:
                log(f"{name}: {it.name} SHA-256 {digest} (not pinned)")
            folder.parent.mkdir(parents=True, exist_ok=True)
            n = unpack(cache, it.strip, folder)
            done_marker.write_text(json.dumps({"archive": it.name, "sha256": digest, "images": n}) + "\n")
            cache.unlink()
    finally:
        bar.close()
    count = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    log(f"{name}: {count} images in {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("srcore.data", __doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pf = sub.add_parser("fetch", help="download datasets and lay them out", formatter_class=cli.HelpFormatter)
    pf.add_argument("names", nargs="+", metavar="NAME", help="datasets to fetch (see `list`), or 'all'")
    pf.add_argument("--root", default=str(DEFAULT_ROOT), help="folder that receives train/ and eval/")
    pf.add_argument(
        "--allow-unpinned", action="store_true", help="also fetch files without a pinned SHA-256 (DIV2K), printing it"
    )
    pf.add_argument("--manifest", default=str(MANIFEST), help="the dataset list (JSON)")
    pf.add_argument("--no-progress", action="store_true", help="no progress bar")
    pl = sub.add_parser("list", help="the datasets, their sources and sizes", formatter_class=cli.HelpFormatter)
    pl.add_argument("--manifest", default=str(MANIFEST), help="the dataset list (JSON)")
    a = p.parse_args(argv)
    try:
        manifest = load_manifest(a.manifest)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.cmd == "list":
        for name, spec in manifest.items():
            files, archives = _items(spec)
            items = files + archives
            size = sum(i.size or 0 for i in items)
            pinned = "SHA-256 pinned" if all(i.sha256 for i in items) else "not pinned (--allow-unpinned)"
            what = f"{len(files)} files, {size / 1e6:.1f} MB" if files else f"{len(archives)} archive(s)"
            print(f"{name:12} -> {spec['folder']:18} {what}; {pinned}; {spec.get('source', '')}")
        return 0
    names = list(manifest) if "all" in a.names else list(dict.fromkeys(a.names))
    unknown = [n for n in names if n not in manifest]
    if unknown:
        print(f"error: unknown dataset {unknown[0]!r}; choose from {', '.join(manifest)}, all", file=sys.stderr)
        return 2
    root = Path(a.root)
    failed = 0
    for n in names:
        try:
            fetch(n, manifest[n], root, a.allow_unpinned, progress=not a.no_progress)
        except FetchError as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
