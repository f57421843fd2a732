"""Bad and odd uploads at the library level (issue #7): ``srcore.imageio.load_image`` then
``dashboard.core.prepare_input``, as the Compare tab runs them, over the table in ``bad_inputs``.

Each case gives the expected result (output size, a note) or a clear ImageLoadError / InputError —
never any other exception.  No server, no models: fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bad_inputs import CASES, MAX_FILE_SIZE

from dashboard.core import InputError, prepare_input
from srcore import SCALE
from srcore.imageio import ImageLoadError, load_image

pytestmark = pytest.mark.timeout(120)

LIB_CASES = [c for c in CASES if not c.api_only]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_inputs")


@pytest.fixture(scope="module")
def files(folder):
    """Each case's file, written once for both modes."""
    return {}


def _file(files, folder, case) -> Path:
    if case.name not in files:
        files[case.name] = case.make(folder)
    return files[case.name]


def _run(path: Path, as_lr: bool):
    li = load_image(path)
    lr, hr, notes = prepare_input(li.array, as_lr)
    return lr, hr, li.notes + notes


@pytest.mark.parametrize("as_lr", [False, True], ids=["as_hr", "as_lr"])
@pytest.mark.parametrize("case", LIB_CASES, ids=str)
def test_case(case, as_lr, files, folder):
    want = case.expected(as_lr, library=True)
    path = _file(files, folder, case)
    if not want.ok:
        with pytest.raises((ImageLoadError, InputError)) as ei:
            _run(path, as_lr)
        assert want.error in str(ei.value), f"{case.name}: {ei.value!r}"
        assert "Traceback" not in str(ei.value)
        return
    lr, hr, notes = _run(path, as_lr)
    assert lr.dtype == np.uint8 and lr.ndim == 3 and lr.shape[2] == 3
    if as_lr:
        assert hr is None
        assert (lr.shape[0] * SCALE, lr.shape[1] * SCALE) == want.size, case.name
    else:
        assert hr.shape == (*want.size, 3), case.name
        assert lr.shape == (want.size[0] // SCALE, want.size[1] // SCALE, 3), case.name
        if case.check is not None:
            case.check(hr)
    if want.note is not None:
        assert any(want.note in n for n in notes), f"{case.name}: {want.note!r} not in {notes}"
    if case.name in ("palette", "rgb_16bit", "webp", "tiff", "bmp", "png_named_jpg", "at_minimum"):
        assert notes == [], f"{case.name}: unexpected notes {notes}"  # plain inputs: nothing to say


def test_table_matches_app_constants():
    """The table's copy of the upload cap is the app's (dashboard.ui imports gradio, so it is not imported there)."""
    from dashboard.ui import MAX_FILE_SIZE as APP_CAP

    assert MAX_FILE_SIZE == APP_CAP
