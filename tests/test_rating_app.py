"""The standalone rating app under load: many gradio_client sessions voting concurrently, every
vote stored once; blindness of what the client receives; stop, restart and come back."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(240)

_spec = importlib.util.spec_from_file_location("rating_load", REPO / "benchmarks" / "rating_load.py")
rl = importlib.util.module_from_spec(_spec)
sys.modules["rating_load"] = rl
_spec.loader.exec_module(rl)

SECRET_WORDS = re.compile(r"bicubic|srcnn|srgan|_mse|_pl\b|original|SRCNN|SRGAN|Bicubic", re.I)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rating_app")
    ck = rl.make_untrained_checkpoints(tmp / "checkpoints")
    import skimage.data
    from PIL import Image

    images = tmp / "images"  # an organiser folder of 3 small photos keeps start-up quick
    images.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        a = getattr(skimage.data, name)()
        h, w = a.shape[:2]
        Image.fromarray(a[h // 2 - 80:h // 2 + 80, w // 2 - 80:w // 2 + 80]).save(images / f"{name}.png")
    return tmp / "ratings.sqlite3", ck, {"SR_RATING_IMAGES": str(images)}


def _store(db):
    from srcore.rating.store import RatingStore

    return RatingStore(db)


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def _strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _strings(v)


def test_concurrent_sessions_blindness_and_restart(setup):
    db, ck, env = setup
    with rl.launch_app(db, ck, extra_env=env) as url:
        # --- many concurrent sessions: every acknowledged vote stored exactly once
        r = rl.run_load(url, raters=10, votes=6, db=db)
        print(f"\nrating app load: raters {r['raters']}  votes {r['votes']}  {r['seconds']:.1f}s  "
              f"votes/s {r['votes_per_s']:.1f}  lost {r['lost']}  duplicates {r['duplicates']}")
        assert r["raters"] == 10 and r["votes"] == 60 == r["stored"]
        assert r["lost"] == 0 and r["duplicates"] == 0
        assert all(x["progress"].startswith("**Progress: 6 / ") for x in r["results"])

        # --- blindness: nothing the client gets names a model
        c = _client(url)
        seen = [c.predict("pair", None, api_name="/rating_start")]
        rid = seen[0][0]
        for ans in ("left", "tie", "right"):
            seen.append(c.predict(api_name=f"/rating_choose_{ans}"))
        seen.append(c.predict("mos", rid, api_name="/rating_start"))
        for k in (1, 5, 3):
            seen.append(c.predict(api_name=f"/rating_score_{k}"))
        texts = [s for out in seen for s in _strings(out) if s != rid]
        assert texts and not [t for t in texts if SECRET_WORDS.search(t)], texts
        assert seen[-1][1] == "**Progress: 3 / 18**"  # 3 images x (4 models + bicubic + HR)
        for out in seen:  # images are served under content hashes, not names
            for s in _strings(out):
                if s.endswith(".png"):
                    assert s.rsplit("/", 1)[-1] == "image.png"
        c.close()

        # --- the results and CSV endpoints work on what was stored
        c = _client(url)
        res = c.predict(False, api_name="/rating_results")
        assert res[0].startswith("**66 votes from 11 raters**")
        csv_path = c.predict(api_name="/rating_export_csv")
        c.close()
        assert csv_path

    # --- restart: everything is still there, and the rater continues where they stopped
    s = _store(db)
    assert s.count_votes() == 66 and s.integrity_check() == "ok"
    s.close()
    with rl.launch_app(db, ck, extra_env={**env, "SR_ADMIN_TOKEN": "organiser-secret"}) as url:
        c = _client(url)
        out = c.predict("mos", rid, api_name="/rating_start")
        assert out[0] == rid and out[1] == "**Progress: 3 / 18**"
        out = c.predict(api_name="/rating_score_4")
        assert out[1] == "**Progress: 4 / 18**" and out[2].startswith("Saved")

        s = _store(db)
        mine = [v for v in s.votes() if v["rater_id"] == rid]
        assert len(mine) == 7 and s.count_votes() == 67
        shown = s._conn().execute(
            "SELECT COUNT(*), COUNT(DISTINCT stim_key || protocol) FROM assignments WHERE rater_id = ?", (rid,)).fetchone()
        assert shown[0] == shown[1]  # no stimulus twice

        # --- organiser: a wrong token gets nothing; reset needs the typed confirmation
        f, msg = c.predict("guess", api_name="/rating_admin_download")
        assert f is None and "Wrong" in msg
        f, msg = c.predict("organiser-secret", api_name="/rating_admin_download")
        assert f and "67 votes" in msg
        msg, _ = c.predict("organiser-secret", "yes", api_name="/rating_admin_reset")
        assert "confirm" in msg and s.count_votes() == 67
        msg, _ = c.predict("guess", "RESET", api_name="/rating_admin_reset")
        assert "Wrong" in msg and s.count_votes() == 67
        msg, _ = c.predict("organiser-secret", "RESET", api_name="/rating_admin_reset")
        assert "Deleted 67 votes" in msg and s.count_votes() == 0
        s.close()
        c.close()


# ------------------------------------------------------------------ the stimulus set and the flow, in-process


@pytest.fixture(scope="module")
def small_stimuli(tmp_path_factory):
    import torch

    from srcore.models.generator import Generator
    from srcore.rating.stimuli import build_stimuli
    from srcore.zoo import GENERATOR

    folder = tmp_path_factory.mktemp("stim_images")
    import skimage.data
    from PIL import Image

    Image.fromarray(skimage.data.astronaut()[150:249, 180:282]).save(folder / "astro.png")  # 99x102: mod-crop
    Image.fromarray(skimage.data.coffee()[100:196, 200:296]).save(folder / "coffee.png")
    torch.manual_seed(0)
    models = {"srgan_pl": Generator(GENERATOR).eval()}
    return build_stimuli(folder=folder, crop=32, models=models, zoom=2), models, folder


def test_stimuli_same_centre_crop_of_every_version(small_stimuli):
    import numpy as np
    import torch

    from srcore.data import to_tensor, to_uint8
    from srcore.imageio import load_image
    from srcore.metrics import mod_crop
    from srcore.resize import bicubic_x4, downscale_x4

    st, models, folder = small_stimuli
    assert st.image_ids == ["astro", "coffee"] and st.models == ("bicubic", "srgan_pl", "hr") and st.crop == 32
    hr = mod_crop(load_image(folder / "astro.png").array, 4)
    assert hr.shape[:2] == (96, 100)
    y0, x0 = 32, 32 // 4 * 4  # centre, on the LR grid
    lr = downscale_x4(hr)
    with torch.inference_mode():
        full_sr = to_uint8(models["srgan_pl"](to_tensor(lr).unsqueeze(0)))
    crops = st.crops["astro"]
    assert all(c.shape == (32, 32, 3) and c.dtype == np.uint8 for c in crops.values())
    assert np.array_equal(crops["hr"], hr[y0:y0 + 32, x0:x0 + 32])
    assert np.array_equal(crops["bicubic"], bicubic_x4(lr)[y0:y0 + 32, x0:x0 + 32])  # window == whole image
    assert np.abs(crops["srgan_pl"].astype(int) - full_sr[y0:y0 + 32, x0:x0 + 32]).max() <= 1
    assert st.image("astro", "hr").shape == (64, 64, 3)  # shown 2x with nearest-neighbour pixels


def test_plans_are_per_rater_resumable_and_hold_the_anchors(small_stimuli):
    st = small_stimuli[0]
    p1, p2 = st.plan("raterAAAA", "mos"), st.plan("raterBBBB", "mos")
    assert p1 == st.plan("raterAAAA", "mos") and p1 != p2 and sorted(p1) == sorted(p2) == sorted(st.mos_items())
    pairs = st.plan("raterAAAA", "pair", length=4)  # 6 pairs exist (3 per image); a quarter are anchors
    assert len(pairs) == 4 and len(st.pair_items()) == 6
    assert sum(set(m) == {"bicubic", "hr"} for _, m in pairs) == 1
    pairs = st.plan("raterAAAA", "pair", length=8)
    assert len(pairs) == 6 and len(set(pairs)) == 6
    assert {i for i, m in pairs if set(m) == {"bicubic", "hr"}} == {"astro", "coffee"}


def test_service_flow_replay_and_completion(small_stimuli, tmp_path):
    from srcore.rating.service import RatingService
    from srcore.rating.store import RatingError, RatingStore

    svc = RatingService(RatingStore(tmp_path / "svc.sqlite3"), small_stimuli[0])
    s = svc.start(None, "mos")
    assert s.progress == "0 / 6" and len(s.images) == 1 and s.token
    first = s.token
    s = svc.vote(s.rater_id, "mos", s.token, 4)
    assert s.message == "Saved." and s.progress == "1 / 6"
    again = svc.vote(s.rater_id, "mos", first, 1)  # replay of the first answer
    assert again.message.startswith("That answer was already saved") and again.token == s.token
    with pytest.raises(RatingError):
        svc.vote(s.rater_id, "mos", s.token, 9)
    while not s.finished:
        s = svc.vote(s.rater_id, "mos", s.token, 3)
    assert s.progress == "6 / 6" and "complete" in s.message and svc.store.count_votes() == 6
    p = svc.start(s.rater_id, "pair")
    assert len(p.images) == 2 and p.progress == "0 / 6"
    with pytest.raises(RatingError, match="unknown protocol"):
        svc.start(s.rater_id, "ab")
    svc.store.close()
