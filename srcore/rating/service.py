"""The rating flow without any UI: start or resume a session, take a vote, serve the next stimulus.

The UI (``dashboard/rating_tab.py``) only relays: it gets images and an opaque token, never the
model names, and it passes the token back with the answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from srcore.rating.stimuli import StimulusSet, build_stimuli, get_stimuli
from srcore.rating.store import DuplicateVoteError, RatingError, RatingStore

PROTOCOL_NAMES = {"mos": "score single images (1-5)", "pair": "compare two images"}


@dataclass
class Served:
    """What the client may see: images in display order, the token to answer, progress."""

    rater_id: str
    protocol: str
    token: str | None  # None when the session is complete
    images: list[np.ndarray] = field(default_factory=list)
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.token is None

    @property
    def progress(self) -> str:
        return f"{self.done} / {self.total}"


class RatingService:
    """``models`` / ``missing``: generators already loaded by the caller (the app's), used for the
    stimuli instead of loading the checkpoints a second time."""

    def __init__(self, store: RatingStore | None = None, stimuli: StimulusSet | None = None,
                 models: dict | None = None, missing: dict[str, str] | None = None):
        self.store = store or RatingStore()
        self._stimuli = stimuli
        self._models, self._missing = models, missing
        self._lock = threading.Lock()

    @property
    def stimuli(self) -> StimulusSet:
        with self._lock:  # built once, also when a rater and the warm-up thread ask at the same time
            if self._stimuli is None:
                self._stimuli = (get_stimuli() if self._models is None
                                 else build_stimuli(models=self._models, missing=self._missing))
            return self._stimuli

    def _serve(self, rater_id: str, protocol: str, message: str = "") -> Served:
        plan = self.stimuli.plan(rater_id, protocol)
        a = self.store.next_assignment(rater_id, protocol, plan)
        done = self.store.progress(rater_id, protocol)
        total = max(len(plan), done)
        if a is None:
            return Served(rater_id, protocol, None, [], done, total,
                          (message + " " if message else "") + "Session complete - thank you!")
        images = [self.stimuli.image(a.image_id, m) for m in a.models]
        return Served(rater_id, protocol, a.token, images, done, total, message)

    def start(self, rater_id: str | None, protocol: str) -> Served:
        """Start or resume: a known rater id continues where it stopped; anything else gets a new id."""
        if protocol not in PROTOCOL_NAMES:
            raise RatingError(f"unknown protocol {protocol!r}")
        rid = self.store.ensure_rater(rater_id)
        return self._serve(rid, protocol)

    def vote(self, rater_id: str, protocol: str, token: str, answer) -> Served:
        """Store the answer (committed before anything else happens), then serve the next stimulus.
        A replay of an answered stimulus is not counted and just moves on."""
        if protocol == "mos":
            kw = {"score": answer}
        else:
            kw = {"choice": answer}
        try:
            self.store.record_vote(rater_id, token, **kw)
            msg = "Saved."
        except DuplicateVoteError:
            msg = "That answer was already saved."
        return self._serve(rater_id, protocol, msg)
