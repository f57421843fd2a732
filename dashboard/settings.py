"""The app's settings: every ``SR_*`` / ``GRADIO_SERVER_*`` variable, read once at start-up.

``app.py`` (and the rating tabs' own ``python -m dashboard.rating_tab``) calls ``Settings.from_env()``
once and hands the object down: to ``build_demo`` and from there, as plain values, to the compare
gate, the result cache, the session reaper, the temporary folder and the rating service.  Nothing
else in ``dashboard`` or ``srcore`` reads an ``SR_*`` variable (``srcore.paths`` keeps
``SR_CHECKPOINTS`` as the library's and the command lines' default, ``srcore.inference`` reads
``SR_CHANNELS_LAST``), so what the app runs with is visible in one place.  A malformed value stops
the start with a ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from srcore import paths

RATING_CROP = (32, 1024)  # the range srcore.rating.service.StudySettings accepts
RATING_ITEMS = (1, 200)
RATING_ZOOM = (1, 16)


class SettingsError(ValueError):
    """A setting with an unusable value; the message names the variable."""


def _raw(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: Mapping[str, str], name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    _check_range(name, raw, value, lo, hi)
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float | None = None) -> float:
    raw = _raw(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} is not a finite number")
    _check_range(name, raw, value, lo, None)
    return value


def _check_range(name: str, raw: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise SettingsError(f"{name}={raw!r} is out of range (from {lo:g} to {hi:g})")
    if lo is not None and value < lo:
        raise SettingsError(f"{name}={raw!r} is too small (at least {lo:g})")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = _raw(env, name).lower()
    if not raw:
        return default
    if raw not in allowed:
        raise SettingsError(f"{name}={raw!r} is not one of {', '.join(allowed)}")
    return raw


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = _raw(env, name)
    return Path(raw).expanduser() if raw else None


def _text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def _database(env: Mapping[str, str], name: str) -> Path | str | None:
    """A database file, or a ``postgresql://`` URL kept as text; any other URL scheme is refused
    (it would otherwise be taken for a relative file name)."""
    raw = _raw(env, name)
    if not raw:
        return None
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else None
    if scheme is None:
        return Path(raw).expanduser()
    if scheme in ("postgresql", "postgres"):
        return raw
    raise SettingsError(
        f"{name} has the URL scheme {scheme!r}, which is not supported: give a file path (SQLite) "
        "or a postgresql:// URL"
    )


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks (CIDR), each checked; ``*`` trusts every peer."""
    import ipaddress

    raw = _raw(env, name)
    if not raw:
        return ()
    out = []
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise SettingsError(f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    """What the app runs with (each field names its environment variable)."""

    checkpoints: Path = paths.CHECKPOINTS  # SR_CHECKPOINTS: generators, perceptual weights, histories, benchmark
    model_dirs: tuple[Path, ...] = ()  # SR_MODELS: more folders of your own checkpoints (os.pathsep-separated)
    threads: int = 0  # SR_THREADS: parallel compare workers (0 = one per core)
    rating_tabs: bool = True  # SR_RATING_TABS=0 leaves out the Rate / Results tabs
    host: str = "127.0.0.1"  # GRADIO_SERVER_NAME
    port: int = 7860  # GRADIO_SERVER_PORT
    # serving (dashboard.serving, dashboard.cache)
    max_waiting: int = 40  # SR_MAX_WAITING: compares allowed to wait; past it a visitor is told "busy"
    session_ttl_s: float = 1800.0  # SR_SESSION_TTL_S: a session unused this long is forgotten
    session_capacity: int = 1000  # SR_SESSION_CAPACITY: at most this many sessions kept
    result_cache_mb: float = 160.0  # SR_RESULT_CACHE_MB: memory for compare results, shared by all sessions
    temp_base: Path | None = None  # SR_TEMP_BASE: where the run's temp folder goes (None: GRADIO_TEMP_DIR / system)
    # the blind rating (dashboard.rating_tab, srcore.rating)
    # SR_RATINGS_DB: the ratings SQLite file, or a postgresql:// URL (None: srcore.rating.default_db_path())
    ratings_db: Path | str | None = field(default=None, repr=False)
    rating_images: Path | None = None  # SR_RATING_IMAGES: an organiser's image folder (None: the bundled crops)
    rating_crop: int = 128  # SR_RATING_CROP: crop side in HR pixels, until the organiser saves settings
    rating_items: int = 30  # SR_RATING_ITEMS: items per session, until the organiser saves settings
    rating_zoom: int = 3  # SR_RATING_ZOOM: display enlargement of the crops
    rating_access: str = "invited"  # SR_RATING_ACCESS: invited or open, until the organiser saves settings
    trusted_proxies: tuple[str, ...] = ()  # SR_TRUSTED_PROXIES: proxies whose X-Forwarded-For is believed
    admin_token: str | None = field(default=None, repr=False)  # SR_ADMIN_TOKEN: the organiser's (None: tools off)
    rating_secret: str | None = field(default=None, repr=False)  # SR_RATING_SECRET (None: a random one, in the db)
    extra: dict[str, str] = field(default_factory=dict, hash=False, repr=False)  # the raw SR_* values as given

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment); ``SettingsError``
        names the first variable with an unusable value.  An empty variable counts as unset."""
        env = os.environ if env is None else env
        dirs = tuple(Path(p) for p in env.get("SR_MODELS", "").split(os.pathsep) if p.strip())
        return cls(
            checkpoints=Path(env["SR_CHECKPOINTS"]) if env.get("SR_CHECKPOINTS") else paths.CHECKPOINTS,
            model_dirs=dirs,
            threads=max(0, _int(env, "SR_THREADS", 0)),
            rating_tabs=env.get("SR_RATING_TABS", "1").strip() != "0",
            host=env.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            port=_int(env, "GRADIO_SERVER_PORT", 7860),
            max_waiting=_int(env, "SR_MAX_WAITING", 40, lo=0),
            session_ttl_s=_float(env, "SR_SESSION_TTL_S", 1800.0, lo=1.0),
            session_capacity=_int(env, "SR_SESSION_CAPACITY", 1000, lo=1),
            result_cache_mb=_float(env, "SR_RESULT_CACHE_MB", 160.0, lo=0.0),
            temp_base=_path(env, "SR_TEMP_BASE"),
            ratings_db=_database(env, "SR_RATINGS_DB"),
            rating_images=_path(env, "SR_RATING_IMAGES"),
            rating_crop=_int(env, "SR_RATING_CROP", 128, *RATING_CROP),
            rating_items=_int(env, "SR_RATING_ITEMS", 30, *RATING_ITEMS),
            rating_zoom=_int(env, "SR_RATING_ZOOM", 3, *RATING_ZOOM),
            rating_access=_choice(env, "SR_RATING_ACCESS", "invited", ("invited", "open")),
            trusted_proxies=_networks(env, "SR_TRUSTED_PROXIES"),
            admin_token=_text(env, "SR_ADMIN_TOKEN"),
            rating_secret=_text(env, "SR_RATING_SECRET"),
            extra={k: v for k, v in env.items() if k.startswith("SR_")},
        )
