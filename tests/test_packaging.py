"""The install matches the code: every third-party import of app.py, dashboard/ and srcore/ is a
declared dependency (pyproject.toml), the files a non-editable install needs are shipped with it,
and build artefacts stay out of git."""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# import name -> distribution name, where they differ
DIST = {"PIL": "pillow", "skimage": "scikit-image", "gradio_client": "gradio-client"}
FIRST_PARTY = {"srcore", "dashboard"}


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _optional(node: ast.AST, parents: dict) -> bool:
    """An import inside ``try: ... except ImportError`` is optional (the code works without it)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name)
            and h.type.id in ("ImportError", "ModuleNotFoundError")
            or isinstance(h.type, ast.Tuple)
            and any(isinstance(e, ast.Name) and e.id in ("ImportError", "ModuleNotFoundError") for e in h.type.elts)
            for h in node.handlers
        ):
            return True
    return False


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """distribution -> files importing it (required imports only)."""
    out: dict[str, set[str]] = {}
    for f in files:
        tree = ast.parse(f.read_text(), str(f))
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                if top in FIRST_PARTY or top in sys.stdlib_module_names or _optional(node, parents):
                    continue
                dist = DIST.get(top, top).lower().replace("_", "-")
                out.setdefault(dist, set()).add(str(f.relative_to(ROOT)))
    return out


def py_files(*where: str) -> list[Path]:
    return [p for w in where for p in ([ROOT / w] if w.endswith(".py") else sorted((ROOT / w).rglob("*.py")))]


def test_the_library_needs_only_its_dependencies():
    core = _names(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    rating = _names(extras["stats"]) | _names(extras["postgres"])
    used = third_party_imports([p for p in py_files("srcore") if "rating/images" not in p.as_posix()])
    # the rating study (srcore/rating/) is the one part with extras' needs: its statistics (`stats`)
    # and its PostgreSQL store (`postgres`, imported only for a postgresql:// database)
    missing = {
        d: fs for d, fs in used.items() if d not in core and not (d in rating and all("/rating/" in f for f in fs))
    }
    assert not missing, f"srcore imports packages pyproject.toml does not declare: {missing}"


def test_the_app_extra_covers_the_dashboard():
    core = _names(PYPROJECT["project"]["dependencies"])
    app = _names(PYPROJECT["project"]["optional-dependencies"]["app"])
    used = third_party_imports(py_files("app.py", "dashboard"))
    missing = {d: fs for d, fs in used.items() if d not in core | app}
    assert not missing, f"app.py / dashboard/ import packages missing from the `app` extra: {missing}"
    assert "psutil" in used and "psutil" in app
    # requirements.txt (the Space's pins) carries every dependency of the app too
    pinned = _names([ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln and ln[0].isalpha()])
    assert not (core | app) - pinned, f"requirements.txt lacks {(core | app) - pinned}"


def test_a_non_editable_install_ships_what_the_commands_load():
    from srcore import paths
    from srcore.prefilter import FILE_NAME
    from srcore.zoo import MODELS

    patterns = [p for ps in PYPROJECT["tool"]["setuptools"]["data-files"].values() for p in ps]
    need = [m.file for m in MODELS] + [
        paths.VGG16_WEIGHTS.name,
        paths.ALEXNET_WEIGHTS.name,
        paths.LPIPS_LIN_WEIGHTS.name,
        FILE_NAME,
    ]
    for name in need:
        assert (ROOT / "checkpoints" / name).is_file(), name
        assert any(fnmatch.fnmatch(f"checkpoints/{name}", p) for p in patterns), f"{name} is not shipped"
    assert any(p.parts[-3:] == ("share", "sr-loss-lab", "checkpoints") for p in paths.installed_checkpoints())
    scripts = PYPROJECT["project"]["scripts"]
    for name, target in scripts.items():
        module, func = target.split(":")
        assert name == "srcore-" + module.rsplit(".", 1)[-1] or module == "srcore.datasets", name


def test_build_artefacts_are_not_tracked():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    bad = [f for f in tracked.splitlines() if ".egg-info/" in f or f.startswith(("build/", "dist/"))]
    assert not bad, f"build artefacts tracked: {bad[:5]}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.egg-info/" in ignored and "build/" in ignored
