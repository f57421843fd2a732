"""The blind study attacked the way issue 14 found it open, through gradio_client and raw HTTP:
impersonation, nonce replay and parallel votes, linkable image names, predictable plans, public
results and exports while the study runs, token guessing, server paths on pages.  All refused.
Plus quality control on scripted raters: a speeder and an attention-check failer are flagged."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)
TOKEN = "organiser-token-for-tests"

_spec = importlib.util.spec_from_file_location("rating_load", REPO / "benchmarks" / "rating_load.py")
rl = sys.modules.get("rating_load") or importlib.util.module_from_spec(_spec)
if "rating_load" not in sys.modules:
    sys.modules["rating_load"] = rl
    _spec.loader.exec_module(rl)

NAMES = re.compile(r"bicubic|srcnn|srgan|_mse|_pl\b|degraded|hr\b|original|astronaut|coffee|chelsea", re.I)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rating_attacks")
    ck = rl.make_untrained_checkpoints(tmp / "checkpoints")
    import skimage.data
    from PIL import Image

    images = tmp / "images"  # 3 small organiser photos keep start-up quick
    images.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        a = getattr(skimage.data, name)()
        h, w = a.shape[:2]
        Image.fromarray(a[h // 2 - 48 : h // 2 + 48, w // 2 - 48 : w // 2 + 48]).save(images / f"{name}.png")
    db = tmp / "ratings.sqlite3"
    env = {"SR_RATING_IMAGES": str(images), "SR_ADMIN_TOKEN": TOKEN, "SR_RATING_ITEMS": "8"}
    with rl.launch_app(db, ck, extra_env=env) as url:
        yield {"url": url, "db": db, "tmp": tmp, "ck": ck, "images": images}


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def _store(db):
    from srcore.rating.store import RatingStore

    return RatingStore(db)


def _raw(url: str, api: str, data: list) -> list:
    """One call through Gradio's plain HTTP API (POST, then read the event stream)."""
    req = urllib.request.Request(
        f"{url}gradio_api/call/{api}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    event = json.loads(urllib.request.urlopen(req, timeout=60).read())["event_id"]
    text = urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event}", timeout=60).read().decode()
    events = re.findall(r"event: (\w+)\ndata: (.*)", text)
    assert events and events[-1][0] == "complete", text[-500:]
    return json.loads(events[-1][1])


def _admin(c, **changes):
    """Save study settings as the organiser (the rest as loaded)."""
    out = c.predict(TOKEN, api_name="/rating_admin_settings")
    state, protos, models, items, crop, att, speed, practice, public = out[1:]
    vals = dict(
        state=state,
        protos=protos,
        models=models,
        items=items,
        crop=crop,
        att=att,
        speed=speed,
        practice=practice,
        public=public,
    )
    vals.update(changes)
    msg = c.predict(TOKEN, *vals.values(), api_name="/rating_admin_save")
    assert msg.startswith("Saved"), msg
    return msg


def _raters(db) -> dict[str, str]:
    s = _store(db)
    rows = {r["rater_id"]: r for r in s.raters()}
    s.close()
    return rows


def test_impersonation_refused(app):
    url, db = app["url"], app["db"]
    victim = _client(url)
    v = rl.parse(victim.predict("mos", "", None, api_name="/rating_start"))
    for _ in range(3):
        v = rl.parse(victim.predict(v["key"], api_name="/rating_score_4"))
    assert v["progress"][0] == 3
    s = _store(db)
    victim_id = s.rater_for_key(v["key"])
    s.close()
    assert victim_id

    # the victim's rater id (as the old public CSV showed it), a made-up key, or nothing: a new session
    attacker = _client(url)
    for guess in (victim_id, "A" * 43, v["key"][:-2] + "xx", None):
        a = rl.parse(attacker.predict("mos", "", guess, api_name="/rating_start"))
        assert a["key"] != v["key"] and a["progress"][0] == 0
    for guess in (victim_id, "B" * 43):
        out = _raw(url, "rating_start", ["mos", "", guess])
        progress = [rl.progress_of(x) for x in out if isinstance(x, str) and rl.progress_of(x)]
        assert out[0] != v["key"] and progress == [(0, 9)]
    # voting with the victim's id from a fresh session stores nothing under the victim
    out = rl.parse(_client(url).predict(victim_id, api_name="/rating_score_1"))
    assert "Start" in out["status"]
    s = _store(db)
    assert sum(1 for x in s.votes() if x["rater_id"] == victim_id) == 3
    # the organiser's exports carry no key; the database keeps only hashes
    assert v["key"].encode() not in db.read_bytes() + Path(str(db) + "-wal").read_bytes()
    s.close()
    adm = _client(url)
    csv_path = adm.predict(TOKEN, api_name="/rating_export_csv")
    raters_path, _ = adm.predict(TOKEN, api_name="/rating_admin_raters")
    for p in (csv_path, raters_path):
        text = Path(p if isinstance(p, str) else p["path"]).read_text()
        assert v["key"] not in text and victim_id in text


def test_nonce_replay_and_parallel_votes_store_one_vote(app):
    url, db = app["url"], app["db"]
    c = _client(url)
    first = rl.parse(c.predict("pair", "", None, api_name="/rating_start"))
    key = first["key"]
    jobs = [c.submit(key, api_name=f"/rating_choose_{a}") for a in ("left", "right", "tie", "left", "right", "tie")]
    outs = [rl.parse(j.result(timeout=60)) for j in jobs]
    s = _store(db)
    rid = s.rater_for_key(key)
    rows = (
        s._conn()
        .execute(
            "SELECT a.token, COUNT(v.token) FROM assignments a LEFT JOIN votes v ON v.token = a.token "
            "WHERE a.rater_id = ? GROUP BY a.token",
            (rid,),
        )
        .fetchall()
    )
    # every vote went to a stimulus that was served, and every stimulus holds at most one vote:
    # the six parallel answers stored one vote on the one stimulus served before them, and at most
    # the one stimulus after it (an answer that came after the first reply)
    served_before = 1
    assert sum(n for _, n in rows) >= 1 and all(n <= 1 for _, n in rows)
    saved = sum(o["status"].startswith("Saved") for o in outs)
    assert saved == sum(n for _, n in rows) and len(rows) <= saved + served_before
    # a direct replay of an answered nonce through the service is refused and changes nothing
    from srcore.rating.service import RatingService
    from srcore.rating.store import DuplicateVoteError, RatingError

    answered = [t for t, n in rows if n == 1]
    svc = RatingService(s, stimuli=None, admin_token="x")
    before = s.count_votes()
    with pytest.raises(DuplicateVoteError):
        s.record_vote(rid, answered[0], choice="left")
    other_rid, other_key = s.new_session("")
    with pytest.raises(RatingError, match="unknown stimulus"):  # someone else's nonce
        svc.vote(other_key, answered[0], "left")
    assert s.count_votes() == before
    s.close()


def test_image_names_unlinkable_and_dom_blind(app):
    url = app["url"]
    adm = _client(url)
    _admin(adm, models=["bicubic", "hr"], items=6, att=0)  # 3 images x 2 versions: both raters see all 6
    try:
        seen = []
        for _ in range(2):
            c = _client(url)
            out = rl.parse(c.predict("mos", "", None, api_name="/rating_start"))
            htmls = [out["stimulus"]]
            while "complete" not in out["done"]:
                out = rl.parse(c.predict(out["key"], api_name="/rating_score_3"))
                htmls.append(out["stimulus"])
            seen.append([h for h in htmls if h])
    finally:
        _admin(adm, models=["bicubic", "srcnn_mse", "srcnn_pl", "srgan_mse", "srgan_pl", "hr"], items=8, att=10)
    srcs = [[src for h in hs for src in re.findall(r'src="([^"]+)"', h)] for hs in seen]
    assert len(srcs[0]) == len(srcs[1]) == 6
    assert all(s.startswith("data:image/png;base64,") for ss in srcs for s in ss)  # no URL, no file name
    assert not set(srcs[0]) & set(srcs[1])  # the same 6 (image, version) stimuli, never the same bytes
    import base64
    import io

    import numpy as np
    from PIL import Image

    def pixels(src):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))

    # ...though the pixels are the same: each of rater A's images is one of rater B's
    b = [pixels(s) for s in srcs[1]]
    assert all(any(np.array_equal(pixels(s), x) for x in b) for s in srcs[0])
    alts = {a for hs in seen for h in hs for a in re.findall(r'alt="([^"]*)"', h)}
    assert alts == {"Image to rate"}
    stripped = [re.sub(r'src="data:[^"]+"', "", h) for hs in seen for h in hs]
    assert not [h for h in stripped if NAMES.search(h)]
    page = (
        urllib.request.urlopen(url, timeout=30).read().decode()
        + urllib.request.urlopen(url + "config", timeout=30).read().decode()
    )
    assert not re.search(r"astronaut|coffee\.png|chelsea|srgan_pl\.safetensors", page)


def test_plan_not_predictable_from_public_code(app):
    """Even given a rater's internal id, the public code (plan without the server secret)
    does not reproduce the order the server served."""
    url, db = app["url"], app["db"]
    c = _client(url)
    out = rl.parse(c.predict("mos", "", None, api_name="/rating_start"))
    key = out["key"]
    while "complete" not in out["done"]:
        out = rl.parse(c.predict(key, api_name="/rating_score_2"))
    from srcore.rating.stimuli import StimulusSet

    s = _store(db)
    rid = s.rater_for_key(key)
    served = [
        (r[0], r[1])
        for r in s._conn().execute(
            "SELECT image_id, model_a FROM assignments WHERE rater_id = ? AND kind = 'test' ORDER BY created", (rid,)
        )
    ]
    s.close()
    # everything public: the image names (the organiser's folder), the versions, the code
    st = StimulusSet(
        crops={i: {} for i in ("astronaut", "chelsea", "coffee")},
        models=("bicubic", "srcnn_mse", "srcnn_pl", "srgan_mse", "srgan_pl", "hr"),
        crop=64,
    )
    guesses = [[(i, m[0]) for i, m, *_ in st.plan(rid, "mos", length=8, secret=secret)] for secret in ("", rid, "0")]
    assert len(served) == 8
    assert all(g != served for g in guesses)
    # How many of the 8 positions a public guess gets right.  By chance (1/18 each, best of 3
    # guesses): 0-2 in 97 % of runs, 4 in 0.23 % (CI met one), 5 in 0.02 %, 6 or more in about
    # 6e-6.  A plan that the public code reproduced would get 8.
    hits = max(sum(a == b for a, b in zip(g, served)) for g in guesses)
    print(f"\nplan prediction from public data: best guess {hits}/8 positions right")
    assert hits <= 5


def test_results_and_exports_private_while_open(app):
    url = app["url"]
    c = _client(url)
    for tok in ("", "wrong-1"):
        res = c.predict(False, tok, api_name="/rating_results")
        assert "organiser" in res[0].lower() or "Wrong" in res[0]
        assert not re.search(r"srgan|srcnn|bicubic|\d\.\d|plotly", json.dumps(res[1:]), re.I)  # empty tables
        assert c.predict(tok, api_name="/rating_export_csv") is None
    raw = _raw(url, "rating_results", [False, ""])
    assert "organiser only" in raw[0] and not re.search(r"srgan|srcnn|bicubic|\d\.\d|plotly", json.dumps(raw[1:]), re.I)
    res = c.predict(False, TOKEN, api_name="/rating_results")
    assert re.match(r"\*\*\d+ votes from \d+ raters\*\*", res[0])
    adm = _client(url)
    _admin(adm, state="closed", public=False)
    try:
        assert "organiser" in c.predict(False, "", api_name="/rating_results")[0].lower()
        out = rl.parse(c.predict("mos", "", None, api_name="/rating_start"))
        assert "closed" in out["done"]  # no new sessions while closed
        _admin(adm, state="closed", public=True)
        assert re.match(r"\*\*\d+ votes", c.predict(False, "", api_name="/rating_results")[0])
        assert c.predict("", api_name="/rating_export_csv")
    finally:
        _admin(adm, state="open", public=False)


def test_no_server_path_or_secret_in_pages_or_answers(app):
    url, db, tmp = app["url"], app["db"], app["tmp"]
    pages = [urllib.request.urlopen(url + p, timeout=30).read().decode() for p in ("", "config", "gradio_api/info")]
    c = _client(url)
    answers = [json.dumps(c.predict("mos", "", None, api_name="/rating_start"))]
    answers.append(json.dumps(c.predict(False, "", api_name="/rating_results")))
    answers.append(json.dumps(c.predict("nope", api_name="/rating_admin_settings")))
    answers.append(json.dumps(c.predict(TOKEN, api_name="/rating_admin_settings")))
    s = _store(db)
    secret = s.get_meta("server_secret")
    s.close()
    for text in pages + answers:
        for bad in (str(db), str(tmp), str(REPO), str(app["ck"]), "ratings.sqlite3", TOKEN, secret):
            assert bad not in text, bad


def test_speeder_and_attention_failer_flagged_with_reasons(app):
    url, db = app["url"], app["db"]
    from srcore.rating import stats

    speeder = rl.rater_session(url, "mos", votes=9, seed=1)  # as fast as the script can
    s = _store(db)
    c = _client(url)
    out = rl.parse(c.predict("pair", "", None, api_name="/rating_start"))
    key = out["key"]
    rid = s.rater_for_key(key)
    while "complete" not in out["done"]:
        a = (
            s._conn()
            .execute(
                "SELECT a.kind, a.model_a FROM assignments a LEFT JOIN votes v ON v.token = a.token "
                "WHERE a.rater_id = ? AND v.token IS NULL",
                (rid,),
            )
            .fetchone()
        )
        time.sleep(1.3)  # not a speeder
        if a[0] == "attention":  # always picks the degraded side of an attention check
            ans = "left" if a[1] == "degraded" else "right"
        else:
            ans = ("left", "right", "tie")[int(time.time() * 10) % 3]
        out = rl.parse(c.predict(key, api_name=f"/rating_choose_{ans}"))
    qc = stats.rater_quality(s.votes_frame(), speeder_s=1.0).set_index("rater_id")
    sp = qc.loc[s.rater_for_key(speeder["key"])]
    fa = qc.loc[rid]
    s.close()
    assert sp["flagged"] and "speeder: median" in sp["reason"]
    assert fa["flagged"] and re.search(r"failed \d+ of \d+ attention checks", fa["reason"]), fa["reason"]
    assert "speeder" not in fa["reason"]
    res = _client(url).predict(True, TOKEN, api_name="/rating_results")
    assert "excluded" in res[0]


def test_organiser_token_throttled(app):
    """Runs last in this module: it locks 127.0.0.1 out of the organiser tools for a minute."""
    url = app["url"]
    c = _client(url)
    answers = [c.predict(f"guess-{i}", api_name="/rating_admin_settings")[0] for i in range(8)]
    wrong = [i for i, a in enumerate(answers) if "Wrong organiser token" in a]
    # earlier tests in this module spent 2 of the 5 wrong tokens allowed a minute
    assert wrong == list(range(len(wrong))) and 1 <= len(wrong) <= 5, answers
    assert all("Too many wrong organiser tokens" in a for a in answers[len(wrong) :])
    # now even the right token waits, so guessing cannot go on at speed
    assert "Too many" in c.predict(TOKEN, api_name="/rating_admin_settings")[0]
    assert "Too many" in _raw(url, "rating_results", [False, TOKEN])[0]
    print("\norganiser token: 5 wrong answers a minute per client, then refused for the rest of the minute")
