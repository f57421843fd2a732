"""The compare gate (issue 16): one at a time, a bounded number waiting, an honest busy message past
that, and work whose visitor has gone dropped before it starts or stopped between models."""

from __future__ import annotations

import asyncio
import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import counting_generators

from dashboard import core
from dashboard.serving import Busy, ComputeGate, busy_text

pytestmark = pytest.mark.timeout(60)


def test_busy_message_names_the_queue_and_the_wait():
    msg = busy_text(40, 33.2)
    assert msg == "The app is busy: 40 compares are waiting. Please try again in about 35 s."
    assert busy_text(1, 0.2).endswith("about 5 s.")


def test_gate_runs_one_at_a_time_and_refuses_past_the_limit():
    gate = ComputeGate(max_waiting=2, slots=1, typical_s=3.0)
    release = threading.Event()
    order: list[int] = []
    running = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        release.wait(10)
        with lock:
            running["now"] -= 1
            order.append(i)
        return i

    async def scenario():
        first = asyncio.create_task(gate.run(work, 0))
        await asyncio.sleep(0.05)  # 0 runs
        waiting = [asyncio.create_task(gate.run(work, i)) for i in (1, 2)]
        await asyncio.sleep(0.05)
        assert (gate.running, gate.waiting) == (1, 2)
        with pytest.raises(Busy) as ei:
            await gate.run(work, 3)
        release.set()
        return await asyncio.gather(first, *waiting), str(ei.value)

    results, msg = asyncio.run(scenario())
    assert results == [0, 1, 2] and order == [0, 1, 2] and running["peak"] == 1
    # 2 waiting + 1 running ahead, 3 s each: about 12 s (rounded up to 5 s steps: 15)
    m = re.fullmatch(r"The app is busy: (\d+) compares are waiting\. Please try again in about (\d+) s\.", msg)
    assert m and m.group(1) == "2" and m.group(2) == "15", msg
    assert gate.waiting == 0 and gate.running == 0


def test_gate_drops_a_compare_whose_visitor_left():
    gate = ComputeGate(max_waiting=4)
    calls = []
    with pytest.raises(core.Cancelled):
        asyncio.run(gate.run(calls.append, 1, alive=lambda: False))
    assert calls == [] and gate.dropped == 1 and gate.running == 0


def test_run_compare_stops_between_models():
    models = counting_generators()
    engine = SimpleNamespace(models=models, lpips=None, pool=None, available=list(models))
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    asked = []

    def gone() -> bool:
        asked.append(1)
        return len(asked) > 2  # the visitor leaves after two panels

    with core.stop_when(gone), pytest.raises(core.Cancelled):
        core.run_compare(engine, img)
    assert sum(m.calls for m in models.values()) == 2, "two models ran (models come before bicubic), then it stopped"
    res = core.run_compare(engine, img)  # outside stop_when nothing stops it
    assert set(res.images) >= set(models) and all(m.calls >= 1 for m in models.values())


def test_idle_sessions_expire():
    import datetime
    from types import SimpleNamespace

    from dashboard.serving import expire_sessions

    now = datetime.datetime.now()
    holder = SimpleNamespace(
        lock=threading.Lock(),
        session_data={"old": object(), "new": object()},
        time_last_used={"old": now - datetime.timedelta(seconds=120), "new": now},
    )
    assert expire_sessions(holder, idle_s=60) == 1
    assert list(holder.session_data) == ["new"] and list(holder.time_last_used) == ["new"]


def test_static_info_is_built_once_and_replayed():
    from dashboard.serving import StaticInfoCache

    calls = []

    async def app(scope, _receive, send):
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"n": %d}' % len(calls)})

    mw = StaticInfoCache(app)

    async def get(path, headers=()):
        sent = []

        async def send(m):
            sent.append(m)

        await mw(
            {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": list(headers)}, None, send
        )
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    async def scenario():
        return [
            await get("/config"),
            await get("/config"),
            await get("/gradio_api/info"),
            await get("/config", [(b"cookie", b"a=1")]),
            await get("/other"),
        ]

    out = asyncio.run(scenario())
    assert out[0] == out[1] == b'{"n": 1}', "the second /config is the first one replayed"
    assert calls == ["/config", "/gradio_api/info", "/config", "/other"], "cookies and other paths pass through"


def test_fair_gate_one_client_large_compares_do_not_hold_up_a_small_one():
    """Issue 23's bar with stand-in costs: client A sends 4 large compares (16x a 256 px one), client
    B then one small one.  A keeps one running and one waiting (a newer request from the same page
    replaces its waiting one, another page of the same address is told to wait); B's compare runs
    next, so it waits for at most the one large compare already running."""
    gate = ComputeGate(max_waiting=40, slots=1, typical_s=0.01)
    started: list[str] = []
    release = {name: threading.Event() for name in ("A1", "A2", "A3", "A4", "B")}

    def work(name: str) -> str:
        started.append(name)
        release[name].wait(10)
        return name

    async def scenario():
        a1 = asyncio.create_task(gate.run(work, "A1", cost=16.0, session="a", client="10.0.0.1"))
        await asyncio.sleep(0.05)
        a2 = asyncio.create_task(gate.run(work, "A2", cost=16.0, session="a", client="10.0.0.1"))
        await asyncio.sleep(0.02)
        a3 = asyncio.create_task(gate.run(work, "A3", cost=16.0, session="a", client="10.0.0.1"))  # replaces A2
        await asyncio.sleep(0.02)
        with pytest.raises(Busy, match="already waiting"):  # another tab of the same address
            await gate.run(work, "A4", cost=16.0, session="a-other-tab", client="10.0.0.1")
        b = asyncio.create_task(gate.run(work, "B", cost=1.0, session="b", client="10.0.0.2"))
        await asyncio.sleep(0.05)
        assert gate.waiting == 2 and gate.running == 1 and gate.replaced == 1
        with pytest.raises(core.Cancelled, match="replaced"):
            await a2
        for name in ("A1", "B", "A3"):
            release[name].set()
            await asyncio.sleep(0.1)
        return await asyncio.gather(a1, b, a3)

    assert asyncio.run(scenario()) == ["A1", "B", "A3"]
    assert started == ["A1", "B", "A3"]  # B waited only for the large compare already running


def test_cost_and_estimate_follow_the_input_size():
    from PIL import Image

    from dashboard.serving import estimate_cost

    small, large = np.zeros((256, 256, 3), np.uint8), np.zeros((1024, 1024, 3), np.uint8)
    assert estimate_cost((small,)) == 1.0 and estimate_cost((large, "x")) == 16.0
    assert estimate_cost((Image.new("RGB", (512, 256)),)) == 2.0 and estimate_cost(("example",)) == 1.0
    # a low-res upload is upscaled x4: 16 times its pixels come out (the compare's mode, /upscale's source)
    assert estimate_cost((large, core.UPLOAD_LR, ["srgan_pl"])) == 256.0
    assert estimate_cost((small, "benchmark")) == estimate_cost((small, core.UPLOAD_LR_BENCHMARK)) == 16.0
    assert estimate_cost((small, core.UPLOAD_HR)) == 1.0
    huge = np.zeros((2048, 2048, 3), np.uint8)  # centre-cropped to MAX_LR_SIDE before it is upscaled
    assert estimate_cost((huge, core.UPLOAD_LR)) == estimate_cost((large, core.UPLOAD_LR))
    gate = ComputeGate(typical_s=1.0)
    gate.record(8.0, cost=16.0)  # a 1024 px compare took 8 s: 0.5 s per unit
    assert gate.typical_s == pytest.approx(0.7 + 0.3 * 0.5)


def test_panel_files_served_without_server_paths(tmp_path):
    """The viewer's PNGs at ``sr-files/<folder>/<path>`` (issue 22: image URLs named the server's
    temporary paths): a served folder's files, and nothing outside it."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from dashboard import viewer
    from dashboard.serving import PanelFiles

    root = tmp_path / "served"
    (root / "ab12").mkdir(parents=True)
    (root / "ab12" / "x_srgan_pl_x4.png").write_bytes(b"\x89PNG pixels")
    (tmp_path / "secret.txt").write_text("not for visitors")
    (root / "ab12" / "out").symlink_to(tmp_path / "secret.txt")
    i = viewer.serve_folder(root)
    assert viewer.serve_folder(root) == i, "a folder is served once"
    url = viewer.file_url(root / "ab12" / "x_srgan_pl_x4.png")
    assert url == f"sr-files/{i}/ab12/x_srgan_pl_x4.png" and str(tmp_path) not in url
    assert viewer.file_url(tmp_path / "secret.txt").startswith("gradio_api/file="), "outside: Gradio's route"

    app = Starlette(
        routes=[Route("/{p:path}", lambda _r: PlainTextResponse("app"))], middleware=[Middleware(PanelFiles)]
    )
    client = TestClient(app)
    got = client.get("/" + url)
    assert got.status_code == 200 and got.content == b"\x89PNG pixels"
    assert got.headers["content-type"] == "image/png"
    assert client.get("/prefix/" + url).status_code == 200, "behind a proxy's path prefix too"
    for bad in (
        f"/sr-files/{i}/../secret.txt",
        f"/sr-files/{i}/ab12/%2e%2e/%2e%2e/secret.txt",
        f"/sr-files/{i}/ab12/out",
        f"/sr-files/{i}/ab12/missing.png",
        f"/sr-files/{i}/ab12",
        f"/sr-files/{len(viewer.SERVED)}/ab12/x_srgan_pl_x4.png",
        "/sr-files/x/ab12/x_srgan_pl_x4.png",
    ):
        assert client.get(bad).status_code == 404, bad
    assert client.get("/other").text == "app", "other paths pass through"


def test_waits_said_from_the_start_up_timing_and_the_queue_order():
    """The busy messages' estimates (issue 23: within 2x of the measured wait): the gate starts from
    the opening view's timing instead of a fixed guess, and an address's waiting compare is said to
    be done after what runs, what goes before it, and itself, not after the whole queue."""
    import time

    from dashboard.serving import _Waiter

    gate = ComputeGate(typical_s=1.5)
    gate.calibrate(2.0, cost=4.0)  # the opening view: a 512 px ground truth in 2 s
    assert gate.typical_s == pytest.approx(0.5)
    gate.calibrate(float("nan"), cost=4.0)
    gate.calibrate(0.0)
    assert gate.typical_s == pytest.approx(0.5)  # a failed timing changes nothing

    gate = ComputeGate(typical_s=1.0)
    now = time.monotonic()
    gate._running.append((now, 16.0))  # a large compare just started
    large = _Waiter(None, 16.0, now, now + 16.0, "a", "10.0.0.1")  # type: ignore[arg-type]
    small = _Waiter(None, 1.0, now + 1, now + 2.0, "b", "10.0.0.2")  # type: ignore[arg-type]
    gate._waiters += [large, small]
    assert gate.done_in_s(small) == pytest.approx(16 + 1, abs=0.1)  # goes before the waiting large one
    assert gate.done_in_s(large) == pytest.approx(16 + 1 + 16, abs=0.1)
    assert gate.estimate_s(cost=1.0) == pytest.approx(16 + 17 + 1, abs=0.1)  # a newcomer: after everyone
