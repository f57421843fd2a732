"""The inference-backend verdict (``benchmarks.inference_backends.decide``): a backend is adopted
only if it beats what is adopted before it by more than 15 % at every size with the same output,
and its per-size set-up (export, session, compilation) pays back on the first image."""

from __future__ import annotations

from benchmarks.inference_backends import decide


def _per(total: float, setup: float = 0.0, first: float | None = None, diff: float = 1e-7) -> dict:
    return {
        "four_models_s": total,
        "setup_s": setup,
        "first_call_s": total if first is None else first,
        "max_abs_diff": diff,
    }


def test_a_later_backend_must_beat_the_adopted_one_not_only_eager():
    sizes = {"128": {"eager": _per(1.0), "channels_last": _per(0.7), "torch_compile": _per(0.68)}}
    v = decide(sizes, ["eager", "channels_last", "torch_compile"])
    assert v["channels_last"] == "adopt"
    assert v["torch_compile"].startswith("keep channels_last (+3%")


def test_a_per_size_setup_that_does_not_pay_back_on_the_first_image_is_not_adopted():
    fast_but_slow_to_set_up = {"128": {"eager": _per(1.0), "onnxruntime": _per(0.5, setup=2.0)}}
    v = decide(fast_but_slow_to_set_up, ["eager", "onnxruntime"])
    assert v["onnxruntime"].startswith("keep eager") and "4.0 images" in v["onnxruntime"]
    cheap_setup = {"128": {"eager": _per(1.0), "onnxruntime": _per(0.5, setup=0.3)}}
    assert decide(cheap_setup, ["eager", "onnxruntime"])["onnxruntime"] == "adopt"


def test_a_different_output_or_a_missing_size_is_not_adopted():
    other_output = {"128": {"eager": _per(1.0), "channels_last": _per(0.5, diff=0.1)}}
    assert decide(other_output, ["eager", "channels_last"])["channels_last"].startswith("keep eager")
    one_size_only = {"128": {"eager": _per(1.0), "x": _per(0.5)}, "384": {"eager": _per(9.0)}}
    assert decide(one_size_only, ["eager", "x"])["x"].startswith("keep eager")
    assert decide({"128": {"eager": _per(1.0)}}, ["eager", "x"])["x"] == "not measured"
