"""The About tab's text (Markdown with LaTeX), built from the tables: the models (``srcore.zoo``),
the metrics (``srcore.metrics.METRICS``) and the protocol as run (``benchmark.json``'s ``protocol``)."""

from __future__ import annotations

from pathlib import Path

from srcore.metrics import METRICS
from srcore.uncertainty import orderings_markdown
from srcore.zoo import ModelSpec

INTRO = r"""## What this is

A comparison of several ways to train the **same** ×4 super-resolution network. Only the loss changes,
so the differences you see in the Compare tab are what the loss does to an image. This reproduces
the course report *Image Super Resolution using Deep Learning Networks* (MIE1516, M. Padmanabhan),
with its flaws fixed (table below).

"""

LOSSES = r"""
## The losses (the report's equations)

GAN objective (b):
$$\min_{\theta_G}\max_{\theta_D}\; \mathbb{E}_{I^{HR}}\big[\log D_{\theta_D}(I^{HR})\big] + \mathbb{E}_{I^{LR}}\big[\log\big(1 - D_{\theta_D}(G_{\theta_G}(I^{LR}))\big)\big]$$

Pixel-wise MSE (c), for an LR image of $W\times H$ and scale $r = 4$:
$$l^{SR}_{MSE} = \frac{1}{r^2WH}\sum_{x=1}^{rW}\sum_{y=1}^{rH}\big(I^{HR}_{x,y} - G_{\theta_G}(I^{LR})_{x,y}\big)^2$$

VGG content loss (d), with $\phi$ the VGG feature map before the 3rd max-pool:
$$l^{SR}_{VGG} = \frac{1}{W_\phi H_\phi}\sum_{x=1}^{W_\phi}\sum_{y=1}^{H_\phi}\big(\phi(I^{HR})_{x,y} - \phi(G_{\theta_G}(I^{LR}))_{x,y}\big)^2$$

Adversarial (generative) loss (e):
$$l^{SR}_{GEN} = \sum_{n=1}^{N} -\log D_{\theta_D}\big(G_{\theta_G}(I^{LR})\big)$$

Perceptual loss of the CNN (f) and of the GAN (g), and the report's GAN with an MSE content term (m):
$$l^{SR}_{PL} = l^{SR}_{VGG} \qquad l^{SR}_{PL} = l^{SR}_{VGG} + 10^{-3}\, l^{SR}_{GEN} \qquad l^{SR}_{GAN\text{-}MSE} = l^{SR}_{MSE} + 10^{-3}\, l^{SR}_{GEN}$$

In SRGAN-PL the VGG feature maps are multiplied by 1/12.75 before the distance, as in the SRGAN
paper the report builds on (Ledig et al. 2017), which brings the VGG loss to the scale of the MSE.
Unscaled, the VGG loss is about 6 and the 10⁻³ adversarial term about 0.1 % of the objective: a
first SRGAN-PL trained that way came out almost identical to SRCNN-PL. With the scaling the
adversarial term is roughly a tenth of the objective. (For SRCNN-PL the scale makes no
difference: Adam's updates do not depend on the scale of the loss.)

"""

DATA = r"""
## The data

Training uses random HR crops from the training images, LR made by the MATLAB-compatible bicubic
×¼, with flips and rotations; validation uses images held out of the training folders (never a
benchmark set), and Set5, Set14 and Kodak24 are used only to report the benchmark. The example photos
in the Compare tab are scikit-image's bundled images (astronaut, chelsea, coffee, rocket).

"""

FIXED = r"""
## What this project fixed relative to the report's notebooks

| topic | in the report's notebooks | here |
|---|---|---|
| generator | SRCNN body then fixed upsampling; SRGAN-PL a bare ×4 nearest-neighbour upsample (blocky) | same body for all four, learned ×4 upsampling by resize-convolution (nearest ×2 then a conv, twice: no sub-pixel checkerboard), residual over bicubic (one residual for R, G and B, so grey content stays grey: no invented colour specks), an LR-consistency step |
| "201 epochs" | 201 single batches of 10 images | real iterations and epochs, stated as such |
| data | whole DIV2K images squashed to 256×256 (aspect ratio distorted), LR 64×64 | random HR crops, MATLAB-compatible bicubic LR, flips and rotations |
| VGG loss | Keras VGG19 `block3_conv3` without ImageNet preprocessing | VGG features before the 3rd max-pool on correctly normalised input |
| discriminator | MSE on a 16×16 patch output | the section 2.3 network with dense layers, BCE on logits |
| adversarial weight | 10⁻³ | 10⁻³ (SRGAN-PL: with SRGAN's 1/12.75 VGG feature scale, so the term counts) |
| one run | one training run per model, differences stated without spread | every arm with 3 seeds from one start; means ± sd, paired bootstrap intervals, an ordering claimed only where resolved |
| PSNR / SSIM | between pixel row 2 of HR and row 1 of SR, data in [−1, 1] (≈ 15–20 dB, meaningless) | whole image, [0, 255], Y channel, 4-pixel border (and RGB) |

## Credits

- The **report's own loss curves** (Training tab, optional overlay) are converted from the public
  notebooks of the report, github.com/MeghanaP/ImageSuperResolutionUsingCNNGAN (M. Padmanabhan),
  and shipped in `checkpoints/report_histories/`.
- LPIPS weights: Zhang et al., *The Unreasonable Effectiveness of Deep Features as a Perceptual
  Metric* (CVPR 2018), BSD-2 licence; AlexNet and VGG16 ImageNet weights from torchvision
  (BSD-3); see the licence files in `checkpoints/`.
- Published benchmark rows: Dong et al. (SRCNN 2014/2016, FSRCNN 2016).
- Example photos: scikit-image's data module (public-domain / CC0 images).
"""


def models_section(specs: tuple[ModelSpec, ...] | list[ModelSpec]) -> str:
    """The table of the models shown (the zoo's and any of your own), with each objective as weighted terms."""
    rows = "\n".join(f"| **{s.title}** | `{s.loss_text}` | {s.description} |" for s in specs)
    return (
        "## The models\n\nEvery model shares one generator; only the objective differs.\n\n"
        "| model | objective (weighted terms) | what it is |\n|---|---|---|\n" + rows + "\n"
    )


def metrics_section() -> str:
    lines = [f"- **{m.label}**{' (' + m.unit + ')' if m.unit else ''} {m.arrow}: {m.description}." for m in METRICS]
    return (
        "## The metrics shown\n\n" + "\n".join(lines) + "\n\nArrows: ↑ higher is better, ↓ lower is better, "
        "→x closest to x is better. In the Compare tab's table the region columns give the figures of the part the "
        "viewer shows once you zoom in (no border shave), ★ marking the best of each column. "
        "The LR input is made from the ground truth by MATLAB-compatible antialiased bicubic ×¼.\n"
    )


def protocol_section(bench: dict | None) -> str:
    """The experiment as it was run, from ``benchmark.json``'s ``protocol`` entry (empty when absent)."""
    proto = (bench or {}).get("protocol")
    if not isinstance(proto, dict):
        return ""
    lines = ["## The protocol as run", ""]
    preset = proto.get("preset")
    if isinstance(preset, dict):  # srcore.experiment stores the whole preset: show its fields one a line
        proto = {**{k: v for k, v in preset.items() if k != "name"}, **proto, "preset": preset.get("name") or "custom"}
    labels = {
        "preset": "preset",
        "pretrain_steps": "shared MSE pre-training (steps)",
        "arm_steps": "each arm (steps)",
        "batch": "batch",
        "patch": "HR crop (px)",
        "seed": "seed",
        "device": "device",
        "train_dirs": "training data",
        "held_out": "held-out validation images",
        "seconds": "time (s)",
        "stage_seconds": "time per stage (s)",
        "train_seconds": "training wall time per stage (s; arms two at a time)",
    }
    for key, label in labels.items():
        v = proto.get(key)
        if v is None:
            continue
        if key == "train_dirs" and isinstance(v, list):  # the folders' names, not the machine's paths
            v = ["/".join(Path(str(d)).parts[-2:]) for d in v]
        if isinstance(v, list):
            v = ", ".join(map(str, v)) if len(v) <= 12 else f"{len(v)} ({', '.join(map(str, v[:6]))}, …)"
        elif isinstance(v, dict):
            v = ", ".join(f"{k} {w}" for k, w in v.items())
        lines.append(f"- **{label}**: {v}")
    for key, v in proto.items():
        if key not in labels and isinstance(v, (str, int, float)):
            lines.append(f"- **{key}**: {v}")
    lines.append(
        "\nAll arms start from the same pre-trained weights and see the same data, crops, batches and "
        "schedule; only the loss differs. Nothing was selected on the benchmark sets.\n"
    )
    return "\n".join(lines)


def findings_section(specs: tuple[ModelSpec, ...] | list[ModelSpec], bench: dict | None) -> str:
    """What the experiment established about the losses, and what it did not: each ordering with its
    verdict from the paired intervals in ``benchmark.json`` (``srcore.uncertainty.orderings``)."""
    if not bench:
        return ""
    titles = {"bicubic": "Bicubic", **{s.key: s.title for s in specs}}
    u = bench.get("uncertainty") or {}
    seeds = bench.get("seeds") or {}
    n = sorted({len(v) for v in seeds.values()}) or [1]
    return (
        "## What the experiment shows, and how sure it is\n\n"
        f"Each trained model was trained with {'/'.join(map(str, n))} seeds from the same start. An ordering "
        f"counts as *resolved* only when the {u.get('level', 0.95):.0%} paired bootstrap interval (images and "
        "seeds resampled together) of every difference it needs lies on one side of 0; *not resolved* means "
        "this budget cannot tell, *reversed* that the data say the opposite.\n\n"
        + orderings_markdown(bench, titles)
        + "\n"
    )


def about_text(specs: tuple[ModelSpec, ...] | list[ModelSpec], bench: dict | None) -> str:
    return "\n".join(
        [
            INTRO,
            models_section(specs),
            protocol_section(bench),
            findings_section(specs, bench),
            LOSSES,
            metrics_section(),
            DATA,
            FIXED,
        ]
    )
