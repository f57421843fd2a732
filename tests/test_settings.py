"""The app's settings (``dashboard.settings``): every ``SR_*`` variable read once, into one object,
with a clear error for a bad value; the values reach the parts that use them as parameters; and no
other module reads an ``SR_*`` variable from the environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dashboard.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)

# the only modules that may read an SR_* variable: the app's settings, the library's default
# checkpoint folder (its command lines), and SR_CHANNELS_LAST in the inference code
ALLOWED = {"dashboard/settings.py", "srcore/paths.py", "srcore/inference.py"}


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "var, raw, field, expected",
    [
        ("SR_MAX_WAITING", "7", "max_waiting", 7),
        ("SR_MAX_WAITING", "0", "max_waiting", 0),
        ("SR_SESSION_TTL_S", "90.5", "session_ttl_s", 90.5),
        ("SR_SESSION_CAPACITY", " 25 ", "session_capacity", 25),
        ("SR_RESULT_CACHE_MB", "64", "result_cache_mb", 64.0),
        ("SR_TEMP_BASE", "/tmp/sr-base", "temp_base", Path("/tmp/sr-base")),
        ("SR_RATINGS_DB", "/srv/r.sqlite3", "ratings_db", Path("/srv/r.sqlite3")),
        ("SR_RATING_IMAGES", "/srv/photos", "rating_images", Path("/srv/photos")),
        ("SR_RATING_CROP", "64", "rating_crop", 64),
        ("SR_RATING_ITEMS", "8", "rating_items", 8),
        ("SR_RATING_ZOOM", "1", "rating_zoom", 1),
        ("SR_ADMIN_TOKEN", "organiser secret", "admin_token", "organiser secret"),
        ("SR_RATING_SECRET", "s3cr3t", "rating_secret", "s3cr3t"),
        ("SR_THREADS", "3", "threads", 3),
        ("SR_RATING_TABS", "0", "rating_tabs", False),
        ("GRADIO_SERVER_PORT", "7861", "port", 7861),
    ],
)
def test_each_variable_parses(var, raw, field, expected):
    s = Settings.from_env({var: raw})
    assert getattr(s, field) == expected
    assert s.extra == ({var: raw} if var.startswith("SR_") else {})


def test_defaults_are_unchanged_and_match_the_parts_that_use_them():
    from dashboard import cache, serving
    from srcore.rating import service, stimuli

    s = Settings.from_env({})
    assert s == Settings()
    assert (s.max_waiting, s.session_ttl_s, s.session_capacity, s.result_cache_mb) == (40, 1800.0, 1000, 160.0)
    assert (s.max_waiting, s.session_ttl_s, s.session_capacity) == (
        serving.MAX_WAITING,
        serving.SESSION_TTL_S,
        serving.SESSION_CAPACITY,
    )
    assert s.result_cache_mb == cache.DEFAULT_BUDGET_MB
    assert (s.rating_crop, s.rating_items, s.rating_zoom) == (128, 30, 3)
    assert (s.rating_crop, s.rating_items, s.rating_zoom) == (
        stimuli.DEFAULT_CROP,
        stimuli.DEFAULT_ITEMS,
        stimuli.DEFAULT_ZOOM,
    )
    assert s.temp_base is s.ratings_db is s.rating_images is s.admin_token is s.rating_secret is None
    # the ranges accepted are the ones the study settings accept
    from dashboard.settings import RATING_CROP, RATING_ITEMS

    assert RATING_ITEMS[1] == service.MAX_ITEMS
    assert service.StudySettings(crop=RATING_CROP[0]).validated().crop == RATING_CROP[0]
    assert service.StudySettings(crop=RATING_CROP[1]).validated().crop == RATING_CROP[1]


@pytest.mark.parametrize(
    "var",
    [
        "SR_MAX_WAITING",
        "SR_SESSION_TTL_S",
        "SR_SESSION_CAPACITY",
        "SR_RESULT_CACHE_MB",
        "SR_TEMP_BASE",
        "SR_RATINGS_DB",
        "SR_RATING_IMAGES",
        "SR_RATING_CROP",
        "SR_RATING_ITEMS",
        "SR_RATING_ZOOM",
        "SR_ADMIN_TOKEN",
        "SR_RATING_SECRET",
    ],
)
def test_an_empty_variable_counts_as_unset(var):
    assert Settings.from_env({var: ""}) == Settings(extra={var: ""})


@pytest.mark.parametrize(
    "var, raw",
    [
        ("SR_MAX_WAITING", "forty"),
        ("SR_MAX_WAITING", "-1"),
        ("SR_MAX_WAITING", "4.5"),
        ("SR_SESSION_TTL_S", "half an hour"),
        ("SR_SESSION_TTL_S", "0"),
        ("SR_SESSION_TTL_S", "nan"),
        ("SR_SESSION_CAPACITY", "0"),
        ("SR_SESSION_CAPACITY", "1e3"),
        ("SR_RESULT_CACHE_MB", "160MB"),
        ("SR_RESULT_CACHE_MB", "-5"),
        ("SR_RESULT_CACHE_MB", "inf"),
        ("SR_RATING_CROP", "big"),
        ("SR_RATING_CROP", "16"),
        ("SR_RATING_CROP", "2048"),
        ("SR_RATING_ITEMS", "0"),
        ("SR_RATING_ITEMS", "201"),
        ("SR_RATING_ITEMS", "ten"),
        ("SR_RATING_ZOOM", "0"),
        ("SR_RATING_ZOOM", "x3"),
        ("SR_THREADS", "many"),
        ("GRADIO_SERVER_PORT", "http"),
    ],
)
def test_a_bad_value_names_the_variable(var, raw):
    with pytest.raises(SettingsError) as ei:
        Settings.from_env({var: raw})
    assert var in str(ei.value) and repr(raw) in str(ei.value)


def test_secrets_stay_out_of_the_repr():
    s = Settings.from_env({"SR_ADMIN_TOKEN": "tok-123", "SR_RATING_SECRET": "sec-456"})
    assert "tok-123" not in repr(s) and "sec-456" not in repr(s)
    assert s.admin_token == "tok-123" and s.rating_secret == "sec-456"


def test_every_variable_is_in_the_readme_table():
    names = set(re.findall(r'"((?:SR|GRADIO_SERVER)_[A-Z_]+)"', (ROOT / "dashboard" / "settings.py").read_text()))
    assert len(names) >= 18
    table = (ROOT / "README.md").read_text()
    assert not [n for n in sorted(names) if f"`{n}" not in table]


# ------------------------------------------------------------------ passed down, not read again


def test_values_reach_the_gradio_limits_and_the_temp_folder(tmp_path):
    from dashboard import serving, tempfiles
    from dashboard.ui import launch_kwargs

    kw = launch_kwargs(Settings(max_waiting=5, session_capacity=7))
    assert kw["max_threads"] == serving.gradio_max_threads(5) == 69
    assert kw["state_session_capacity"] == 7
    assert serving.gradio_max_size(5) == 84
    assert serving.ComputeGate(max_waiting=5).max_waiting == 5
    assert tempfiles.base_dir(tmp_path) == tmp_path


def test_values_reach_the_rating_service(tmp_path, monkeypatch):
    import skimage.data
    from PIL import Image

    from dashboard.rating_tab import make_service

    for var in ("SR_ADMIN_TOKEN", "SR_RATING_SECRET", "SR_RATING_ITEMS", "SR_RATING_CROP", "SR_RATINGS_DB"):
        monkeypatch.setenv(var, "999999")  # the environment is not read again: only the Settings count
    images = tmp_path / "photos"
    images.mkdir()
    Image.fromarray(skimage.data.astronaut()[:96, :96]).save(images / "a.png")
    Image.fromarray(skimage.data.coffee()[:96, :96]).save(images / "b.png")
    s = Settings(
        ratings_db=tmp_path / "r.sqlite3",
        rating_images=images,
        rating_crop=64,
        rating_items=8,
        rating_zoom=2,
        admin_token="tok",
        rating_secret="sec",
    )
    svc = make_service(s, missing={})
    try:
        assert svc.store.path == tmp_path / "r.sqlite3" and svc.secret == "sec"
        assert svc.organiser_enabled
        svc.check_admin("tok", "test")
        assert (svc.settings.items, svc.settings.crop) == (8, 64)
        plan = svc.plan()
        assert (plan.n_images, plan.crop, plan.zoom) == (2, 64, 2)
    finally:
        svc.store.close()
    off = make_service(Settings(ratings_db=tmp_path / "off.sqlite3"))
    try:
        assert not off.organiser_enabled and off.secret != "999999"  # a random secret, kept in the database
        assert (off.settings.items, off.settings.crop) == (30, 128)
    finally:
        off.store.close()


# ------------------------------------------------------------------ nobody else reads SR_* variables


def _env_reads(source: str) -> list[str]:
    """The ``SR_*`` names a module looks up in the environment: ``os.environ[...]``,
    ``os.environ.get(...)`` (or ``pop`` / ``setdefault``), ``os.getenv(...)``, ``... in os.environ``,
    also through a name bound to ``os.environ`` (``env = os.environ``) or ``from os import environ``,
    and any call given an ``SR_*`` name as an argument (a helper such as ``env_int("SR_X", 3)``)."""
    tree = ast.parse(source)

    def is_environ(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id in aliases
        )

    aliases = {"environ"}
    for node in ast.walk(tree):  # env = os.environ / env = dict(os.environ) and the like
        if isinstance(node, ast.Assign) and any(is_environ(n) for n in ast.walk(node.value)):
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}

    def sr_names(*nodes: ast.AST) -> list[str]:
        return [
            n.value
            for node in nodes
            for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith("SR_")
        ]

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_environ(node.value):
            found += sr_names(node.slice)
        elif isinstance(node, ast.Call):
            f = node.func
            getenv = (isinstance(f, ast.Attribute) and f.attr == "getenv") or (
                isinstance(f, ast.Name) and f.id == "getenv"
            )
            lookup = isinstance(f, ast.Attribute) and f.attr in ("get", "pop", "setdefault") and is_environ(f.value)
            if getenv or lookup:
                found += sr_names(*node.args)
            else:
                found += [a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("SR_")]
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            found += sr_names(node.left)
    return found


def test_the_scan_finds_environment_reads():
    assert _env_reads('import os\nx = os.environ.get("SR_A", "1")') == ["SR_A"]
    assert _env_reads('import os\nx = os.environ["SR_B"]') == ["SR_B"]
    assert _env_reads('import os\nx = os.getenv("SR_C")') == ["SR_C"]
    assert _env_reads('from os import environ\nx = environ.get("SR_D")') == ["SR_D"]
    assert _env_reads('import os\nenv = os.environ\nx = env.get("SR_E")\ny = "SR_F" in env') == ["SR_E", "SR_F"]
    assert _env_reads('import os\nx = int(os.environ.get("SR_G") or 3)') == ["SR_G"]
    assert _env_reads('from helpers import env_int\nx = env_int("SR_J", 3)') == ["SR_J"]
    assert _env_reads('"""SR_H in a docstring."""\nd = {"SR_I": 1}\nx = d["SR_I"]') == []


def test_no_module_but_the_settings_reads_an_sr_variable():
    offenders = {}
    for package in ("dashboard", "srcore"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            names = _env_reads(path.read_text(encoding="utf-8"))
            if names:
                offenders[rel] = names
    assert offenders == {}, f"read SR_* variables through dashboard.settings.Settings instead: {offenders}"
    assert _env_reads((ROOT / "dashboard" / "settings.py").read_text())  # the scan sees the real reader
