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
        assert all(x["progress"].startswith(f"**Progress: 6 / ") for x in r["results"])

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
