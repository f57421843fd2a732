"""``python -m srcore.data fetch`` against a local HTTP server (127.0.0.1 only): a good archive and
good files are laid out and verified, a partial download resumes by HTTP Range, a corrupted
transfer and a wrong pinned checksum fail with one line each and leave no damaged file behind."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcore import datasets
from srcore.data import main as data_main

pytestmark = pytest.mark.timeout(120)


def png_bytes(seed: int, size=(12, 16)) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def bmp_bytes(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="BMP")
    return buf.getvalue()


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Fix_HR/0001.png", png_bytes(1))
        z.writestr("Fix_HR/0002.png", png_bytes(2))
        z.writestr("Fix_HR/readme.txt", b"not an image")
    return buf.getvalue()


class Server:
    """Serves ``files`` {path: bytes}; ``corrupt`` paths get one byte flipped; honours Range."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.corrupt, self.log = files, set(), []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                outer.log.append((self.path, self.headers.get("Range")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if self.path in outer.corrupt:
                    body = body[:20] + bytes([body[20] ^ 0xFF]) + body[21:]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    archive = zip_bytes()
    s = Server({"/Fix_HR.zip": archive, "/a.png": png_bytes(3), "/b.bmp": bmp_bytes(4)})
    yield s
    s.close()


def manifest(tmp_path: Path, s: Server, **override) -> Path:
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in s.files.items()}
    m = {
        "_comment": "test fixture",
        "Fix": {
            "folder": "train/Fix",
            "archives": [
                {
                    "name": "Fix_HR.zip",
                    "url": s.url + "/Fix_HR.zip",
                    "sha256": sha["/Fix_HR.zip"],
                    "size": len(s.files["/Fix_HR.zip"]),
                    "strip": "Fix_HR/",
                }
            ],
        },
        "Small": {
            "folder": "eval/Small",
            "convert": "png",
            "files": [
                {"name": "a.png", "url": s.url + "/a.png", "sha256": sha["/a.png"], "size": len(s.files["/a.png"])},
                {"name": "b.bmp", "url": s.url + "/b.bmp", "sha256": sha["/b.bmp"], "size": len(s.files["/b.bmp"])},
            ],
        },
    }
    for k, v in override.items():
        m[k] = v
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(m))
    return p


def run(*args: str) -> int:
    return data_main(["fetch", *args, "--no-progress"])


def test_good_archive_and_files_are_laid_out_and_verified(tmp_path, server, capsys):
    m = manifest(tmp_path, server)
    root = tmp_path / "data"
    assert run("Fix", "Small", "--root", str(root), "--manifest", str(m)) == 0, capsys.readouterr().err
    fix = root / "train" / "Fix"
    assert sorted(p.name for p in fix.iterdir() if not p.name.startswith(".")) == ["0001.png", "0002.png"]
    assert (fix / "0001.png").read_bytes() == png_bytes(1)
    small = root / "eval" / "Small"
    assert sorted(p.name for p in small.iterdir()) == ["a.png", "b.png"]  # the BMP converted, pixels kept
    want = np.asarray(Image.open(io.BytesIO(bmp_bytes(4))).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(small / "b.png")), want)
    assert not list(root.rglob("*.part")) and not (root / ".downloads" / "Fix_HR.zip").exists()
    n = len(server.log)
    assert run("all", "--root", str(root), "--manifest", str(m)) == 0  # complete: nothing downloaded again
    assert len(server.log) == n and "already complete" in capsys.readouterr().out


def test_a_partial_download_resumes(tmp_path, server, capsys):
    m = manifest(tmp_path, server)
    root = tmp_path / "data"
    body = server.files["/a.png"]
    part = root / "eval" / "Small" / "a.png.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:30])
    assert run("Small", "--root", str(root), "--manifest", str(m)) == 0, capsys.readouterr().err
    assert ("/a.png", "bytes=30-") in server.log
    assert (root / "eval" / "Small" / "a.png").read_bytes() == body and not part.exists()


def test_a_corrupted_download_is_refused_and_removed(tmp_path, server, capsys):
    m = manifest(tmp_path, server)
    root = tmp_path / "data"
    server.corrupt.add("/Fix_HR.zip")
    assert run("Fix", "--root", str(root), "--manifest", str(m)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: SHA-256 mismatch for http://127.0.0.1:") and "Traceback" not in err
    assert not (root / "train" / "Fix").exists() and not list(root.rglob("*.part*"))
    server.corrupt.clear()  # the next run starts clean and succeeds
    assert run("Fix", "--root", str(root), "--manifest", str(m)) == 0


def test_a_wrong_pinned_checksum_fails(tmp_path, server, capsys):
    m = json.loads(manifest(tmp_path, server).read_text())
    m["Small"]["files"][0]["sha256"] = "0" * 64
    p = tmp_path / "wrong.json"
    p.write_text(json.dumps(m))
    root = tmp_path / "data"
    assert run("Small", "--root", str(root), "--manifest", str(p)) == 1
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and "expected " + "0" * 64 in err
    assert not (root / "eval" / "Small" / "a.png").exists()


def test_unpinned_unknown_and_unreachable(tmp_path, server, capsys):
    m = json.loads(manifest(tmp_path, server).read_text())
    m["Fix"]["archives"][0]["sha256"] = None
    p = tmp_path / "unpinned.json"
    p.write_text(json.dumps(m))
    root = tmp_path / "data"
    assert run("Fix", "--root", str(root), "--manifest", str(p)) == 1
    assert "--allow-unpinned" in capsys.readouterr().err and not (root / "train" / "Fix").exists()
    assert run("Fix", "--root", str(root), "--manifest", str(p), "--allow-unpinned") == 0
    assert hashlib.sha256(server.files["/Fix_HR.zip"]).hexdigest() in capsys.readouterr().out
    assert run("Nope", "--manifest", str(p)) == 2 and "unknown dataset 'Nope'" in capsys.readouterr().err
    m["Small"]["files"][0]["url"] = server.url + "/missing.png"
    p.write_text(json.dumps(m))
    assert run("Small", "--root", str(root), "--manifest", str(p)) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_the_shipped_list_pins_every_repository_file():
    m = datasets.load_manifest()
    assert {"T91", "BSD68", "McMaster", "Set5", "Set14", "Kodak24", "DIV2K"} <= set(m)
    for name, spec in m.items():
        assert spec["folder"].startswith(("train/", "eval/")), name
        for f in spec.get("files", []):
            assert f["url"].startswith("https://raw.githubusercontent.com/") and len(f["sha256"]) == 64, f
            assert f["size"] > 0
