"""The rating flow without any UI: study settings, sessions with secret keys, votes bound to
one-time nonces, and organiser checks.

The UI (``dashboard/rating_tab.py``) only relays: it gets PNG bytes (fresh bytes every time, no
names) and an opaque nonce, never the model or image names, and it passes the session key and the
nonce back with the answer.

Nothing here reads the environment: the organiser token, the server secret, the image folder and
the study's default crop / items / zoom are parameters of ``RatingService`` (the dashboard's
``Settings`` reads them from ``SR_ADMIN_TOKEN``, ``SR_RATING_SECRET``, ``SR_RATING_IMAGES`` and
``SR_RATING_CROP`` / ``SR_RATING_ITEMS`` / ``SR_RATING_ZOOM``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from srcore.rating.stimuli import (
    ANCHORS,
    DEFAULT_ATTENTION_EVERY,
    DEFAULT_CROP,
    DEFAULT_ITEMS,
    DEFAULT_ZOOM,
    StimulusPlan,
    StimulusSet,
    build_stimuli,
    stimulus_plan,
)
from srcore.rating.store import PROTOCOLS, DuplicateVoteError, RatingError, RatingStore, clean_participant

PROTOCOL_NAMES = {"mos": "score single images (1-5)", "pair": "compare two images"}
STATES = ("open", "closed")
SETTINGS_KEY = "study_settings"
MAX_ITEMS = 200


@dataclass
class StudySettings:
    """What the organiser decides; stored as JSON in the database so every replica sees it."""

    state: str = "open"
    protocols: tuple[str, ...] = PROTOCOLS
    models: tuple[str, ...] | None = None  # None: every available version
    items: int = DEFAULT_ITEMS  # stimuli per session (attention checks come on top)
    crop: int = DEFAULT_CROP
    practice: bool = True
    results_public: bool = False  # after closing; while open, results are organiser-only
    attention_every: int = DEFAULT_ATTENTION_EVERY
    speeder_s: float = 1.0  # median seconds per vote below this: flagged

    def validated(self) -> StudySettings:
        """A checked copy; raises RatingError with a message for the organiser."""
        if self.state not in STATES:
            raise RatingError(f"state must be one of {', '.join(STATES)}")
        protocols = tuple(p for p in PROTOCOLS if p in set(self.protocols or ()))
        if not protocols:
            raise RatingError("choose at least one task (MOS or pairs)")
        models = None if self.models is None else tuple(str(m) for m in self.models)
        if models is not None and len(models) < 2:
            raise RatingError("choose at least two versions to rate")
        for name, v, lo, hi in (
            ("items", self.items, 1, MAX_ITEMS),
            ("crop", self.crop, 32, 1024),
            ("attention_every", self.attention_every, 0, MAX_ITEMS),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise RatingError(f"{name} must be a whole number from {lo} to {hi}, got {v!r}")
        if not isinstance(self.speeder_s, (int, float)) or not 0 <= float(self.speeder_s) <= 60:
            raise RatingError("the speeder threshold must be 0 to 60 seconds")
        return StudySettings(
            self.state,
            protocols,
            models,
            self.items,
            self.crop // 4 * 4,
            bool(self.practice),
            bool(self.results_public),
            self.attention_every,
            float(self.speeder_s),
        )


@dataclass
class Served:
    """What the client may see: PNG images in display order, the nonce to answer, progress.
    ``key`` is this rater's own secret session key (kept in their browser)."""

    key: str
    protocol: str
    nonce: str | None  # None when the session is complete
    images: list[bytes] = field(default_factory=list)
    done: int = 0
    total: int = 0
    message: str = ""
    completion_code: str = ""

    @property
    def finished(self) -> bool:
        return self.nonce is None

    @property
    def progress(self) -> str:
        return f"{self.done} / {self.total}"


class Throttle:
    """At most ``limit`` failures per ``window`` seconds per client; then every attempt from that
    client is refused until the window has passed (so guessing a token is slow)."""

    def __init__(self, limit: int = 5, window: float = 60.0):
        self.limit, self.window = limit, window
        self._fails: dict[str, deque] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: may try now)."""
        now = time.monotonic()
        with self._lock:
            q = self._fails.get(client)
            while q and now - q[0] > self.window:
                q.popleft()
            if q and len(q) >= self.limit:
                return self.window - (now - q[0])
            return 0.0

    def fail(self, client: str) -> None:
        with self._lock:
            self._fails.setdefault(client, deque()).append(time.monotonic())
            if len(self._fails) > 10_000:  # bound the memory a flood of clients can take
                self._fails.pop(next(iter(self._fails)))


class RatingService:
    """``models`` / ``missing``: generators already loaded by the caller (the app's), used for the
    stimuli instead of loading the checkpoints a second time.  ``admin_token``: the organiser's
    token (None or empty turns the organiser tools off).  ``secret``: the server secret for plans
    and browser storage (None: a random one, kept in the database).  ``defaults``: the study
    settings until the organiser saves some (their ``items`` and ``crop``).  ``images``: the
    organiser's image folder (None: the bundled photos); ``zoom``: the display enlargement."""

    def __init__(
        self,
        store: RatingStore | None = None,
        stimuli: StimulusSet | None = None,
        models: dict | None = None,
        missing: dict[str, str] | None = None,
        admin_token: str | None = None,
        throttle: Throttle | None = None,
        secret: str | None = None,
        defaults: StudySettings | None = None,
        images: str | Path | None = None,
        zoom: int = DEFAULT_ZOOM,
    ):
        self.store = store or RatingStore()
        self._stimuli: dict[int, StimulusSet] = {}
        self._fixed = stimuli  # tests pass a ready set; it is used whatever the crop setting
        self._models, self._missing = models, missing
        self._lock = threading.Lock()
        self._admin_digest = hashlib.sha256(admin_token.encode()).digest() if admin_token else None
        self.throttle = throttle or Throttle()
        self.secret = secret or self.store.meta_default("server_secret", lambda: secrets.token_hex(32))
        self.defaults = defaults or StudySettings()
        self.images = images
        self.zoom = zoom

    # ------------------------------------------------------------ settings
    @property
    def settings(self) -> StudySettings:
        raw = self.store.get_json(SETTINGS_KEY)
        base = replace(self.defaults)  # a copy: callers may not change the defaults
        if not isinstance(raw, dict):
            return base
        known = {k: v for k, v in raw.items() if k in asdict(base)}
        try:
            return StudySettings(**{**asdict(base), **known}).validated()
        except (RatingError, TypeError):
            return base

    def save_settings(self, s: StudySettings) -> StudySettings:
        s = s.validated()
        d = asdict(s)
        d["protocols"], d["models"] = list(s.protocols), (None if s.models is None else list(s.models))
        self.store.set_meta(SETTINGS_KEY, json.dumps(d))
        return s

    # ------------------------------------------------------------ stimuli
    @property
    def stimuli(self) -> StimulusSet:
        if self._fixed is not None:
            return self._fixed
        crop = self.settings.crop
        with self._lock:  # built once per crop size, also when a rater and the warm-up thread ask at once
            if crop not in self._stimuli:
                self._stimuli[crop] = build_stimuli(
                    self.images, crop=crop, models=self._models, zoom=self.zoom, missing=self._missing
                )
            return self._stimuli[crop]

    def plan(self) -> StimulusPlan:
        """What the stimulus set will hold (image count, default crop, zoom, models left out),
        without computing it; raises like ``stimuli`` for a bad image folder."""
        return stimulus_plan(self._missing, self.images, self.defaults.crop, self.zoom)

    def available_models(self) -> tuple[str, ...]:
        return self.stimuli.models

    def _plan(self, rater_id: str, protocol: str, s: StudySettings) -> list[tuple]:
        models = s.models
        if models is not None:
            models = tuple(m for m in models if m in self.stimuli.models)
            if len(models) < (1 if protocol == "mos" else 2):
                models = None  # the organiser's choice is not available here: rate everything
        return self.stimuli.plan(
            rater_id, protocol, length=s.items, secret=self.secret, models=models, attention_every=s.attention_every
        )

    def _serve(self, key: str, rater_id: str, protocol: str, message: str = "") -> Served:
        plan = self._plan(rater_id, protocol, self.settings)
        a = self.store.next_assignment(rater_id, protocol, plan)
        done = self.store.progress(rater_id, protocol)
        total = max(len(plan), done)
        if a is None:
            code = self.store.completion_code(rater_id)
            return Served(
                key,
                protocol,
                None,
                [],
                done,
                total,
                (message + " " if message else "") + "Session complete - thank you!",
                code,
            )
        images = [self.stimuli.png(a.image_id, m) for m in a.models]
        return Served(key, protocol, a.token, images, done, total, message)

    def _check_open(self, s: StudySettings) -> None:
        if s.state != "open":
            raise RatingError("The study is closed; the organiser is not collecting ratings at the moment.")

    # ------------------------------------------------------------ raters
    def start(self, key: str | None, protocol: str, participant: str | None = "") -> Served:
        """Resume the session of ``key`` (the secret this server issued), or open a new one.
        A stale key (after the organiser's reset) opens a new session with a message saying so."""
        s = self.settings
        self._check_open(s)
        if protocol not in PROTOCOL_NAMES:
            raise RatingError(f"unknown protocol {protocol!r}")
        if protocol not in s.protocols:
            raise RatingError(f"this study does not use the task {PROTOCOL_NAMES[protocol]!r}")
        participant = clean_participant(participant)
        rid = self.store.rater_for_key(key)
        msg = ""
        if rid is None:
            if key:
                msg = (
                    "Your earlier session is no longer known (the organiser may have reset the study), "
                    "so a new one has started."
                )
            rid, key = self.store.new_session(participant)
        assert key is not None  # rater_for_key knows no rater for a None key
        return self._serve(key, rid, protocol, msg)

    def resume(self, key: str | None) -> Served | None:
        """Where the rater with ``key`` stopped (the task with an unanswered stimulus, else the
        last one used), or None for an unknown key or a closed study.  For page loads."""
        rid = self.store.rater_for_key(key)
        if rid is None or self.settings.state != "open":
            return None
        row = (
            self.store._conn()
            .execute(
                "SELECT a.protocol FROM assignments a LEFT JOIN votes v ON v.token = a.token WHERE a.rater_id = ? "
                "ORDER BY (v.token IS NULL) DESC, a.created DESC LIMIT 1",
                (rid,),
            )
            .fetchone()
        )
        if row is None or row[0] not in self.settings.protocols:
            return None
        assert key is not None  # rater_for_key knows no rater for a None key
        return self._serve(key, rid, row[0], "Welcome back - you continue where you stopped.")

    def vote(self, key: str | None, nonce: str | None, answer) -> Served:
        """Store the answer to the stimulus of ``nonce`` (committed before anything else happens),
        then serve the next one.  The nonce must have been served to the session of ``key``; a
        second answer to the same nonce is refused and the current stimulus is shown again."""
        s = self.settings
        self._check_open(s)
        rid = self.store.rater_for_key(key)
        if rid is None:
            raise RatingError(
                "Your session is no longer known - the organiser may have reset the study. "
                'Press "Start / continue" to begin a new session.'
            )
        a = self.store.assignment(nonce) if isinstance(nonce, str) else None
        if a is None or a.rater_id != rid:
            raise RatingError("unknown stimulus id")
        kw = {"score": answer} if a.protocol == "mos" else {"choice": answer}
        try:
            self.store.record_vote(rid, a.token, **kw)
            msg = "Saved."
        except DuplicateVoteError:
            msg = "That stimulus was already answered; only the first answer counts."
        assert key is not None  # rater_for_key knows no rater for a None key
        return self._serve(key, rid, a.protocol, msg)

    # ------------------------------------------------------------ organiser
    @property
    def organiser_enabled(self) -> bool:
        return self._admin_digest is not None

    def check_admin(self, token: str | None, client: str) -> None:
        """Raise RatingError unless ``token`` is the organiser token.  Compared in constant time
        (digests of equal length); 5 wrong tokens a minute per client, then a wait."""
        if self._admin_digest is None:
            raise RatingError("Organiser tools are off (start the app with SR_ADMIN_TOKEN set).")
        wait = self.throttle.wait_s(client)
        if wait > 0:
            raise RatingError(f"Too many wrong organiser tokens from this client; try again in {wait:.0f} s.")
        given = hashlib.sha256(token.encode() if isinstance(token, str) else b"").digest()
        if not hmac.compare_digest(given, self._admin_digest):
            self.throttle.fail(client)
            raise RatingError("Wrong organiser token.")

    def results_allowed(self, token: str | None, client: str) -> None:
        """Results and exports: public only once the study is closed with public results;
        otherwise the organiser token is needed.  Raises RatingError with the reason."""
        s = self.settings
        if s.state == "closed" and s.results_public:
            return
        if not token:
            raise RatingError(
                "Results are visible to the organiser only while the study is open "
                "(or after closing, if the organiser makes them public). Enter the organiser token."
            )
        self.check_admin(token, client)


__all__ = ["RatingService", "Served", "StudySettings", "Throttle", "PROTOCOL_NAMES", "STATES", "ANCHORS"]
