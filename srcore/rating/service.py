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
    DEFAULT_GOLD_EVERY,
    DEFAULT_ITEMS,
    DEFAULT_REPEAT_EVERY,
    DEFAULT_ZOOM,
    StimulusPlan,
    StimulusSet,
    build_stimuli,
    stimulus_plan,
)
from srcore.rating.store import PROTOCOLS, DuplicateVoteError, RatingError, RatingStore, clean_participant

PROTOCOL_NAMES = {"mos": "score single images (1-5)", "pair": "compare two images"}
STATES = ("open", "closed")
ACCESS = ("invited", "open")  # who may start a session: invited raters only, or anyone (rate-limited)
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
    access: str = "invited"  # "invited": only sessions opened with an invitation; "open": anyone
    open_sessions_per_min: int = 5  # open study: new sessions one client address may start a minute
    repeat_every: int = DEFAULT_REPEAT_EVERY  # one repeated item per N (0: none)
    gold_every: int = DEFAULT_GOLD_EVERY  # one gold item per N (0: none)

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
        for name, v, lo, hi in (
            ("open_sessions_per_min", self.open_sessions_per_min, 1, 1000),
            ("repeat_every", self.repeat_every, 0, MAX_ITEMS),
            ("gold_every", self.gold_every, 0, MAX_ITEMS),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise RatingError(f"{name} must be a whole number from {lo} to {hi}, got {v!r}")
        if not isinstance(self.speeder_s, (int, float)) or not 0 <= float(self.speeder_s) <= 60:
            raise RatingError("the speeder threshold must be 0 to 60 seconds")
        if self.access not in ACCESS:
            raise RatingError(f"access must be one of {', '.join(ACCESS)}")
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
            self.access,
            self.open_sessions_per_min,
            self.repeat_every,
            self.gold_every,
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
    practice: bool = False  # this is the practice trial: answered, not counted

    @property
    def finished(self) -> bool:
        return self.nonce is None

    @property
    def progress(self) -> str:
        return f"{self.done} / {self.total}"


class Throttle:
    """Organiser-token guessing slowed down for everyone, without ever refusing the right token
    for good.

    Per client (the address the server sees; proxy headers count only from the configured
    ``SR_TRUSTED_PROXIES``, see ``dashboard.serving.trust_proxies``): ``limit`` wrong tokens per
    ``window`` seconds are checked at once; after that the client's attempts are spaced
    ``window / limit`` apart (an attempt waits its turn, then is checked).  Globally: past
    ``global_limit`` wrong tokens per window from all clients together, every client with a
    recent wrong token also takes turns on one shared clock spaced ``window / global_limit``, so
    many addresses do not multiply the rate.  A client without recent wrong tokens (the
    organiser) is checked at once.  An attempt that would wait more than ``max_wait_s`` is
    refused before checking, with the time to come back (it learns nothing either way).
    ``clock`` / ``sleep``: injectable so tests replay minutes of guessing in no time."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        global_limit: int = 30,
        max_wait_s: float = 30.0,
        clock=time.monotonic,
        sleep=time.sleep,
    ):
        self.limit, self.window, self.global_limit, self.max_wait_s = limit, window, global_limit, max_wait_s
        self.clock, self.sleep = clock, sleep
        self._fails: dict[str, deque] = {}
        self._global: deque = deque()
        self._next: dict[str, float] = {}
        self._gnext = 0.0
        self._lock = threading.Lock()

    def _prune(self, q: deque, now: float) -> deque:
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def reserve(self, client: str) -> float:
        """The seconds ``client``'s attempt must wait before it is checked (0: at once); the turn
        is taken and the attempt counted as a wrong one until ``forgive`` says otherwise (so a
        burst of parallel guesses is counted before any of them is answered).  RatingError when
        the wait would be more than ``max_wait_s``."""
        with self._lock:
            now = self.clock()
            mine = self._prune(self._fails.setdefault(client, deque()), now)
            crowded = len(self._prune(self._global, now)) >= self.global_limit
            at = now
            if len(mine) >= self.limit or (crowded and mine):
                at = max(now, self._next.get(client, 0.0))
                if crowded:
                    at = max(at, self._gnext)
                if at - now > self.max_wait_s:
                    raise RatingError(
                        f"Too many wrong organiser tokens from this address; try again in {at - now:.0f} s."
                    )
                if crowded:
                    self._gnext = at + self.window / self.global_limit
            self._next[client] = at + self.window / self.limit  # the earliest turn after this one
            mine.append(at)
            self._global.append(at)
            if len(self._fails) > 10_000:  # bound the memory a flood of clients can take
                old = next(iter(self._fails))
                self._fails.pop(old)
                self._next.pop(old, None)
            return at - now

    def wait(self, client: str) -> float:
        """Wait for ``client``'s turn (see ``reserve``); returns the turn's time for ``forgive``."""
        delay = self.reserve(client)
        if delay > 0:
            self.sleep(delay)
        return self.clock()

    def forgive(self, client: str) -> None:
        """The attempt was right: it does not count against ``client`` (the organiser who types the
        token correctly is never slowed by their own use of it)."""
        with self._lock:
            for q in (self._fails.get(client), self._global):
                if q:
                    q.pop()
            self._next.pop(client, None)

    def fail(self, client: str) -> None:
        """The attempt was wrong (already counted by ``reserve``)."""


class RateLimit:
    """At most ``per_window`` events per ``window`` seconds per client (new sessions in an open
    study); ``clock`` injectable for tests."""

    def __init__(self, per_window: int = 5, window: float = 60.0, clock=time.monotonic):
        self.per_window, self.window, self.clock = per_window, window, clock
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def take(self, client: str, per_window: int | None = None) -> float:
        """Record one event for ``client`` and return 0, or the seconds until one is allowed."""
        limit = per_window or self.per_window
        with self._lock:
            now = self.clock()
            q = self._seen.setdefault(client, deque())
            while q and now - q[0] > self.window:
                q.popleft()
            if len(q) >= limit:
                return self.window - (now - q[0])
            q.append(now)
            if len(self._seen) > 10_000:
                self._seen.pop(next(iter(self._seen)))
            return 0.0


def sign(secret: str, what: str) -> str:
    """A short HMAC-SHA256 signature (URL-safe) of ``what`` with the server secret."""
    import base64

    mac = hmac.new(secret.encode(), what.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


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
        session_limit: RateLimit | None = None,
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
        self.session_limit = session_limit or RateLimit()
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
            rater_id,
            protocol,
            length=s.items,
            secret=self.secret,
            models=models,
            attention_every=s.attention_every,
            repeat_every=s.repeat_every,
            gold_every=s.gold_every,
            practice=s.practice,
        )

    def _serve(self, key: str, rater_id: str, protocol: str, message: str = "") -> Served:
        plan = self._plan(rater_id, protocol, self.settings)
        a = self.store.next_assignment(rater_id, protocol, plan)
        done = self.store.progress(rater_id, protocol)
        total = max(sum(1 for it in plan if len(it) < 4 or it[3] != "practice"), done)
        if a is None:
            counts = self._counts(rater_id)
            code = self.store.completion_code(rater_id) if counts else ""
            note = "" if counts else " (This session was not opened with an invitation, so it is not counted.)"
            return Served(
                key,
                protocol,
                None,
                [],
                done,
                total,
                (message + " " if message else "") + "Session complete - thank you!" + note,
                code,
            )
        images = [self.stimuli.png(a.image_id, m) for m in a.models]
        if a.role == "practice":
            message = (message + " " if message else "") + "Practice trial: answer it as you would; it is not counted."
        return Served(key, protocol, a.token, images, done, total, message, practice=a.role == "practice")

    def _counts(self, rater_id: str) -> bool:
        """Whether this rater's session counts: it came with an invitation, or the study is open."""
        if self.settings.access == "open":
            return True
        r = self.store.rater(rater_id)
        return bool(r and r["invite_id"])

    def _check_open(self, s: StudySettings) -> None:
        if s.state != "open":
            raise RatingError("The study is closed; the organiser is not collecting ratings at the moment.")

    # ------------------------------------------------------------ raters
    # ------------------------------------------------------------ invitations
    def create_links(self, n: int, cap: int = 1, expires_s: float | None = None, note: str = "") -> list[str]:
        """``n`` participant invitations, each good for ``cap`` sessions (1: single use), expiring
        after ``expires_s`` seconds (None: never).  Returns their tokens (``id.signature``, signed
        with the server secret), to put in links as ``?invite=<token>``."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise RatingError(f"make 1 to 1000 links at a time, not {n!r}")
        expires = None if expires_s is None else self.store.clock() + float(expires_s)
        ids = [self.store.new_invite("link", cap, expires, note) for _ in range(n)]
        return [f"{i}.{sign(self.secret, 'invite:' + i)}" for i in ids]

    def create_class_code(self, cap: int, expires_s: float | None = None, note: str = "") -> str:
        """A class code (``CLASS-XXXX-XXXX``) that opens up to ``cap`` sessions, for a group that
        types it in; stored only as a hash."""
        raw = secrets.token_hex(4).upper()
        code = f"CLASS-{raw[:4]}-{raw[4:]}"
        expires = None if expires_s is None else self.store.clock() + float(expires_s)
        self.store.new_invite("class", cap, expires, note, code=code)
        return code

    def invite_id(self, invite: str | None) -> str | None:
        """The invitation a link token or class code stands for (signature checked in constant
        time), or None."""
        if not isinstance(invite, str):
            return None
        invite = invite.strip()
        if "." in invite and len(invite) <= 80:
            iid, _, sig = invite.partition(".")
            if hmac.compare_digest(sig.encode(), sign(self.secret, "invite:" + iid).encode()):
                return iid
            return None
        if 0 < len(invite) <= 40:
            return self.store.invite_for_code(invite.upper())
        return None

    # ------------------------------------------------------------ raters
    def start(
        self,
        key: str | None,
        protocol: str,
        participant: str | None = "",
        invite: str | None = None,
        client: str = "unknown",
    ) -> Served:
        """Resume the session of ``key`` (the secret this server issued), or open a new one: with
        an invitation (link token or class code, ``invite``) when the study is by invitation, else
        at most ``open_sessions_per_min`` new sessions a minute per ``client`` address.  A stale key
        (after the organiser's reset) opens a new session with a message saying so."""
        s = self.settings
        self._check_open(s)
        if protocol not in PROTOCOL_NAMES:
            raise RatingError(f"unknown protocol {protocol!r}")
        if protocol not in s.protocols:
            raise RatingError(f"this study does not use the task {PROTOCOL_NAMES[protocol]!r}")
        participant = clean_participant(participant)
        rid = self.store.rater_for_key(key)
        msg = ""
        if rid is not None and not self._counts(rid) and (invite or "").strip():
            rid = None  # an uninvited session, now with an invitation: start a counted one
        if rid is None:
            if key:
                msg = (
                    "Your earlier session is no longer known (the organiser may have reset the study), "
                    "so a new one has started."
                )
            iid = self.invite_id(invite) if (invite or "").strip() else None
            if (invite or "").strip() and iid is None:
                raise RatingError("This invitation or class code is not valid; check it, or ask the organiser.")
            if iid is None and s.access != "open":
                raise RatingError(
                    "This study is by invitation: open the link the organiser sent you, or enter your class code."
                )
            if iid is None:
                wait = self.session_limit.take(client, s.open_sessions_per_min)
                if wait > 0:
                    raise RatingError(f"Too many new sessions from your address; try again in {wait:.0f} s.")
            rid, key = self.store.new_session(participant, iid)
        elif not self._counts(rid):
            raise RatingError(
                "This study is now by invitation: open the link the organiser sent you, or enter your class code."
            )
        assert key is not None  # rater_for_key knows no rater for a None key
        return self._serve(key, rid, protocol, msg)

    def resume(self, key: str | None) -> Served | None:
        """Where the rater with ``key`` stopped (the task with an unanswered stimulus, else the
        last one used), or None for an unknown key or a closed study.  For page loads."""
        rid = self.store.rater_for_key(key)
        if rid is None or self.settings.state != "open" or not self._counts(rid):
            return None
        protocol = self.store.last_protocol(rid)
        if protocol is None or protocol not in self.settings.protocols:
            return None
        assert key is not None  # rater_for_key knows no rater for a None key
        return self._serve(key, rid, protocol, "Welcome back - you continue where you stopped.")

    def vote(self, key: str | None, nonce: str | None, answer) -> Served:
        """Store the answer to the stimulus of ``nonce`` (committed before anything else happens),
        then serve the next one.  The nonce must have been served to the session of ``key``; a
        second answer to the same nonce is refused and the current stimulus is shown again.  The
        client echoes the nonce of the item it shows, so a pipelined answer can never land on an
        item that was not yet delivered."""
        s = self.settings
        self._check_open(s)
        rid = self.store.rater_for_key(key)
        if rid is None:
            raise RatingError(
                "Your session is no longer known - the organiser may have reset the study. "
                'Press "Start / continue" to begin a new session.'
            )
        if not self._counts(rid):
            raise RatingError(
                "This study is now by invitation: open the link the organiser sent you, or enter your class code."
            )
        a = self.store.assignment(nonce) if isinstance(nonce, str) and nonce else None
        if a is None or a.rater_id != rid:  # only an item delivered to this session can be answered
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
        (digests of equal length); past a few wrong tokens an attempt waits its turn
        (``Throttle``) before it is checked."""
        if self._admin_digest is None:
            raise RatingError("Organiser tools are off (start the app with SR_ADMIN_TOKEN set).")
        self.throttle.wait(client)
        given = hashlib.sha256(token.encode() if isinstance(token, str) else b"").digest()
        if not hmac.compare_digest(given, self._admin_digest):
            self.throttle.fail(client)
            raise RatingError("Wrong organiser token.")
        self.throttle.forgive(client)

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


__all__ = [
    "RatingService",
    "Served",
    "StudySettings",
    "Throttle",
    "RateLimit",
    "sign",
    "PROTOCOL_NAMES",
    "STATES",
    "ACCESS",
    "ANCHORS",
]
