"""Quality control against paced bots (issue 23), replayed in-process with simulated time.

The bot of the attack report answers every 1.0-1.3 s, gets every attention check (and every gold
item) right because the public stimuli let it look up what is shown, and always gives the maximum
to one model.  Honest raters are simulated with person-like response times and noisy scores.  The
store's clock is a fake one that the raters advance, so a 20-minute study replays in a second."""

from __future__ import annotations

import random

import numpy as np
import pytest

from srcore.rating import stats
from srcore.rating.service import RatingService, StudySettings
from srcore.rating.stimuli import BLURRED, DEGRADED, StimulusSet
from srcore.rating.store import RatingStore

pytestmark = pytest.mark.timeout(120)

MODELS = ("bicubic", "srcnn_mse", "srgan_pl", "hr")
QUALITY = {"bicubic": 2.0, "srcnn_mse": 2.7, "srgan_pl": 3.6, "hr": 4.6}  # what honest raters perceive
TARGET = "srcnn_mse"  # the model the bots push


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _stimuli() -> StimulusSet:
    rng = np.random.default_rng(0)
    crops = {
        f"img{i}": {m: rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for m in (*MODELS, DEGRADED, BLURRED)}
        for i in range(4)
    }
    return StimulusSet(crops=crops, models=MODELS, crop=16)


@pytest.fixture
def study(tmp_path):
    clock = Clock()
    store = RatingStore(tmp_path / "qc.sqlite3", clock=clock)
    svc = RatingService(store, _stimuli(), admin_token="organiser", secret="s" * 32)
    svc.save_settings(
        StudySettings(protocols=("mos",), items=16, attention_every=8, repeat_every=8, gold_every=8, practice=True)
    )
    yield svc, clock
    store.close()


def honest(rng: random.Random):
    def answer(a, memory):
        if a.role == "practice" or (a.kind == "attention" and a.role == ""):
            return rng.choice((1, 2))
        if a.role == "gold":
            return rng.choice((1, 2, 2, 3))
        model = a.models[0]
        if a.role == "repeat" and (a.image_id, model) in memory:
            return int(np.clip(memory[(a.image_id, model)] + rng.choice((-1, 0, 0, 0, 1)), 1, 5))
        s = int(np.clip(round(QUALITY[model] + rng.gauss(0, 0.6)), 1, 5))
        memory[(a.image_id, model)] = s
        return s

    def pace():
        return 0.8 + rng.lognormvariate(np.log(2.5), 0.45)

    return answer, pace


def paced_bot(rng: random.Random, human_timing: bool = False):
    """Attention checks and gold items right (it can look the pixels up), the maximum for TARGET,
    a plausible score for everything else; 1.0-1.3 s per answer (or person-like timing)."""
    answer_h, pace_h = honest(rng)

    def answer(a, memory):
        if a.models[0] in (DEGRADED, BLURRED):
            return 1
        if a.models[0] == TARGET:
            return 5
        return answer_h(a, memory)

    def pace():
        return pace_h() if human_timing else rng.uniform(1.0, 1.3)

    return answer, pace


def run_session(svc: RatingService, clock: Clock, policy, invite: str) -> str:
    answer, pace = policy
    memory: dict = {}
    s = svc.start(None, "mos", invite=invite)
    while not s.finished:
        a = svc.store.assignment(s.nonce)  # what is shown: a bot identifies it from the public pixels
        clock.t += pace()
        s = svc.vote(s.key, s.nonce, answer(a, memory))
    assert s.completion_code.startswith("SR-")
    return svc.store.rater_for_key(s.key)


def _qc(svc):
    return stats.rater_quality(svc.store.votes_frame(), speeder_s=svc.settings.speeder_s).set_index("rater_id")


def test_paced_bot_is_flagged_and_excluded_by_default(study):
    svc, clock = study
    links = svc.create_links(7)
    humans = [run_session(svc, clock, honest(random.Random(k)), links[k]) for k in range(6)]
    bot = run_session(svc, clock, paced_bot(random.Random(99)), links[6])
    qc = _qc(svc)
    print("\n" + qc[["votes", "median_s", "time_cv", "max_deviation", "flagged"]].round(2).to_string())
    assert qc.loc[bot, "flagged"], qc.loc[bot]
    assert "machine-like pacing" in qc.loc[bot, "reason"] and "consensus" in qc.loc[bot, "reason"]
    assert qc.loc[bot, "attention_failed"] == 0 and qc.loc[bot, "gold_failed"] == 0  # it passed every check
    assert not qc.loc[humans, "flagged"].any(), qc.loc[humans, "reason"].tolist()
    res = stats.analyse(svc.store.votes_frame(), n_boot=10)  # exclusion is on by default
    assert res.excluded_raters == [bot]
    mos = res.mos.set_index("model")["mos"]
    assert mos[TARGET] < 3.5 < mos["hr"]
    kept = stats.analyse(svc.store.votes_frame(), exclude=False, n_boot=10).mos.set_index("model")["mos"]
    assert kept[TARGET] > mos[TARGET]  # the bot did push its model while counted


def test_twelve_paced_bots_among_six_people_all_flagged(study):
    """The attack report's numbers: 12 bot sessions; the bots outnumber the people, so the
    consensus is taken from the raters who pass the other checks."""
    svc, clock = study
    code = svc.create_class_code(cap=18)
    humans = [run_session(svc, clock, honest(random.Random(k)), code) for k in range(6)]
    bots = [run_session(svc, clock, paced_bot(random.Random(100 + k)), code) for k in range(12)]
    qc = _qc(svc)
    assert qc.loc[bots, "flagged"].all()
    assert not qc.loc[humans, "flagged"].any(), qc.loc[humans, "reason"].tolist()
    res = stats.analyse(svc.store.votes_frame(), n_boot=10)
    mos = res.mos.set_index("model")["mos"]
    assert sorted(res.excluded_raters) == sorted(bots) and mos["hr"] - mos[TARGET] > 1.0
    print(f"\n12 paced bots + 6 people: {len(res.excluded_raters)} excluded; MOS {mos.round(2).to_dict()}")


def test_bot_with_person_like_timing_caught_by_consensus(study):
    """Beyond speed: the same bot with human-looking response times is flagged by its deviation
    from the other raters' consensus on the model it pushes."""
    svc, clock = study
    links = svc.create_links(7)
    humans = [run_session(svc, clock, honest(random.Random(k)), links[k]) for k in range(6)]
    bot = run_session(svc, clock, paced_bot(random.Random(7), human_timing=True), links[6])
    qc = _qc(svc)
    assert qc.loc[bot, "flagged"] and "pacing" not in qc.loc[bot, "reason"]
    assert "consensus" in qc.loc[bot, "reason"]
    assert not qc.loc[humans, "flagged"].any()


def test_straight_liner_and_inconsistent_rater_flagged(study):
    svc, clock = study
    links = svc.create_links(8)
    for k in range(6):
        run_session(svc, clock, honest(random.Random(k)), links[k])
    rng = random.Random(5)
    liner = run_session(
        svc, clock, (lambda a, _m: 1 if a.models[0] in (DEGRADED, BLURRED) else 4, honest(rng)[1]), links[6]
    )
    noisy = run_session(svc, clock, (lambda _a, _m: rng.randint(1, 5), honest(rng)[1]), links[7])
    qc = _qc(svc)
    assert "straight-liner" in qc.loc[liner, "reason"]
    assert qc.loc[noisy, "flagged"]
    assert qc.loc[noisy, "repeats"] == 2


def test_practice_trial_answered_not_counted(study):
    svc, clock = study
    link = svc.create_links(1)[0]
    s = svc.start(None, "mos", invite=link)
    assert s.practice and "Practice" in s.message and s.done == 0
    total = s.total
    s = svc.vote(s.key, s.nonce, 2)
    assert not s.practice and s.done == 0 and s.total == total  # answered, not counted
    votes = svc.store.votes_frame()
    assert list(votes["kind"]) == ["practice"]
    res = stats.analyse(votes, n_boot=5)
    assert res.n_votes == 0 and stats.rater_quality(votes).loc[0, "votes"] == 0
