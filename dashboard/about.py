"""The About tab's text (Markdown with LaTeX)."""

ABOUT = r"""
## What this is

A comparison of four ways to train the **same** ×4 super-resolution network. Only the loss changes,
so the differences you see in the Compare tab are what the loss does to an image. This reproduces
the course report *Image Super Resolution using Deep Learning Networks* (MIE1516, M. Padmanabhan),
with its flaws fixed (table below).

## The models

All four share one generator: the SRCNN body (conv 9×9, 128 channels → conv 3×3, 64 → conv 5×5, 32,
ReLU) on the low-resolution (LR) image, two learned ×2 sub-pixel (PixelShuffle) stages, and a
residual over the bicubic-upscaled input, so the network learns only the missing detail.

| model | loss | equation |
|---|---|---|
| **SRCNN-MSE** | pixel-wise mean squared error | (c) |
| **SRCNN-PL** | VGG feature ("perceptual") loss | (d), (f) |
| **SRGAN-MSE** | MSE + 10⁻³ × adversarial | (c), (e), (m) |
| **SRGAN-PL** | VGG loss (features × 1/12.75) + 10⁻³ × adversarial | (d), (e), (g) |

The GAN models add a discriminator (report section 2.3: 8 conv blocks 64→512, LeakyReLU 0.2,
batch norm from the 2nd block, dense 1024, dense 1) trained with the minimax game (b).

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

## The metrics shown

- **PSNR-Y** (dB, higher is better) and **SSIM-Y** (higher is better): on the Y channel of MATLAB's
  `rgb2ycbcr`, 8-bit data, with a 4-pixel border shaved: the convention of the published SR tables.
  SSIM uses the Gaussian 11×11 window (σ = 1.5).
- **LPIPS** (AlexNet, v0.1; lower is better): a learned perceptual distance (Zhang et al. 2018).
- In the zoom row, the figures are for the selected region only (no border shave).
- The LR input is made from the ground truth by MATLAB-compatible antialiased bicubic ×¼, as the
  benchmarks do; the bicubic panel is MATLAB-style bicubic ×4.

## The data

Training uses random HR crops from the training images, LR made by the MATLAB-compatible bicubic
×¼, with flips and rotations; validation and the benchmark use Set5 and Set14. The example photos
in the Compare tab are scikit-image's bundled images (astronaut, chelsea, coffee, rocket).

## What this project fixed relative to the report's notebooks

| topic | in the report's notebooks | here |
|---|---|---|
| generator | SRCNN body then fixed upsampling; SRGAN-PL a bare ×4 nearest-neighbour upsample (blocky) | same body for all four, learned ×4 (PixelShuffle) upsampling, residual over bicubic |
| "201 epochs" | 201 single batches of 10 images | real iterations and epochs, stated as such |
| data | whole DIV2K images squashed to 256×256 (aspect ratio distorted), LR 64×64 | random HR crops, MATLAB-compatible bicubic LR, flips and rotations |
| VGG loss | Keras VGG19 `block3_conv3` without ImageNet preprocessing | VGG features before the 3rd max-pool on correctly normalised input |
| discriminator | MSE on a 16×16 patch output | the section 2.3 network with dense layers, BCE on logits |
| adversarial weight | 10⁻³ | 10⁻³ (SRGAN-PL: with SRGAN's 1/12.75 VGG feature scale, so the term counts) |
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
