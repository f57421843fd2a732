"""The hand-written VGG/AlexNet trunks match torchvision's layouts, and importing them stays light."""

import subprocess
import sys

import pytest

from srcore.models.feature_nets import ALEXNET_FEATURES, VGG16_TO_RELU3_3, VGG19_TO_RELU3_4, build_trunk


@pytest.mark.parametrize(
    "name,spec,stop",
    [("vgg16", VGG16_TO_RELU3_3, 16), ("vgg19", VGG19_TO_RELU3_4, 18), ("alexnet", ALEXNET_FEATURES, None)],
)
def test_trunks_match_torchvision(name, spec, stop):
    torchvision = pytest.importorskip(
        "torchvision", reason="torchvision (requirements-dev.txt) gives the reference layout"
    )
    ref = getattr(torchvision.models, name)(weights=None).features
    ref = ref[:stop] if stop else ref
    ours = build_trunk(spec)
    assert str(ours) == str(ref)
    assert [tuple(p.shape) for p in ours.state_dict().values()] == [tuple(p.shape) for p in ref.state_dict().values()]
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_dashboard_engine_does_not_import_torchvision_or_dynamo():
    """torchvision's import pulls in torch._dynamo (seconds of start-up on 2 cores)."""
    code = (
        "import sys; from srcore.models.feature_nets import LPIPS, VGGFeatures; import dashboard.core; "
        "bad = [m for m in ('torchvision', 'torch._dynamo') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
