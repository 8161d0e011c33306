"""SSIMULACRA 2, a float32 numpy port of the reference implementation (cloudinary/ssimulacra2, BSD licence).

The steps and constants follow the reference C++ tool (`ssimulacra2.cc` and libjxl's XYB conversion and
recursive Gaussian): both images are converted to linear sRGB, then at 6 scales (1:1 to 1:32, 2x2 box
downsampling in linear light) to a rescaled XYB; per channel an SSIM map (without the luminance denominator)
and two edge maps ("ringing": the distorted image has edges where the original is smooth; "blurring": the
other way round) are reduced to their mean and 4-norm, and the 108 norms are weighted and remapped to a score:
100 is lossless, 90 visually lossless, 70 high quality, 50 medium. Agreement with the reference tool is checked
in tests/unit/test_ssimulacra2.py.

Images are uint8 sRGB arrays of shape (height, width, 3) or (height, width, 4); alpha is blended onto grey
(0.5) in sRGB before conversion, as the reference does.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyvips

F32 = npt.NDArray[np.float32]

_NUM_SCALES = 6
_C2 = np.float32(0.0009)
_SIGMA = 1.5

# libjxl's opsin absorbance matrix and bias (opsin_params.h)
_M02, _M00 = 0.078, 0.30
_M12, _M10 = 0.078, 0.23
_M20, _M21 = 0.24342268924547819, 0.20476744424496821
_OPSIN = np.array(
    [
        [_M00, 1.0 - _M02 - _M00, _M02],
        [_M10, 1.0 - _M12 - _M10, _M12],
        [_M20, _M21, 1.0 - _M20 - _M21],
    ],
    dtype=np.float32,
)
_BIAS = np.float32(0.0037930732552754493)
_NEG_BIAS_CBRT = np.float32(-math.cbrt(float(_BIAS)))

_WEIGHTS = np.array(
    [
        0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0,
        1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0,
        1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
        1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
        0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0,
        0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
        0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
        225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
        176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0,
        0.0, 34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0,
        8.826982764996862, 23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353,
        0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0,
        0.00010854057858411537,
    ]
)  # fmt: skip


def _recursive_gaussian(sigma: float) -> tuple[int, F32, F32]:
    """Radius and the (n2, d1) coefficients of libjxl's three-term recursive Gaussian (Charalampidis 2016)."""
    radius = float(round(3.2795 * sigma + 0.2546))
    pi_div_2r = math.pi / (2.0 * radius)
    omega = [pi_div_2r, 3.0 * pi_div_2r, 5.0 * pi_div_2r]
    p1 = 1.0 / math.tan(0.5 * omega[0])
    p3 = -1.0 / math.tan(0.5 * omega[1])
    p5 = 1.0 / math.tan(0.5 * omega[2])
    r1 = p1 * p1 / math.sin(omega[0])
    r3 = -p3 * p3 / math.sin(omega[1])
    r5 = p5 * p5 / math.sin(omega[2])
    rho = [math.exp(-0.5 * sigma * sigma * w * w) / radius for w in omega]
    d13 = p1 * r3 - r1 * p3
    d35 = p3 * r5 - r3 * p5
    d51 = p5 * r1 - r5 * p1
    zeta15, zeta35 = d35 / d13, d51 / d13
    a = np.array([[p1, p3, p5], [r1, r3, r5], [zeta15, zeta35, 1.0]])
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]])
    beta = np.linalg.inv(a) @ gamma
    n2 = np.array([-beta[i] * math.cos(omega[i] * (radius + 1.0)) for i in range(3)], dtype=np.float32)
    d1 = np.array([-2.0 * math.cos(w) for w in omega], dtype=np.float32)
    return int(radius), n2, d1


def _impulse_response(sigma: float) -> F32:
    """The recursive filter's response to a unit impulse, taps -radius..radius.

    libjxl's recursive Gaussian sums three resonators fed with in[n-N-1] + in[n+N-1]: their responses cancel
    outside the window, so the filter is exactly a (2N+1)-tap FIR with zeros outside the image. Running the
    recursion once on an impulse (in float64) and convolving with that kernel gives the same blur without a
    loop over rows.
    """
    radius, n2, d1 = _recursive_gaussian(sigma)
    length = 4 * radius + 1
    impulse = np.zeros(length)
    impulse[2 * radius] = 1.0
    padded = np.concatenate([np.zeros(2 * radius), impulse, np.zeros(2 * radius)])
    n2_64, d1_64 = n2.astype(np.float64), d1.astype(np.float64)
    prev, prev2 = np.zeros(3), np.zeros(3)
    out = np.empty(length)
    for n in range(-radius + 1, length):
        y = n2_64 * (padded[n - radius - 1 + 2 * radius] + padded[n + radius - 1 + 2 * radius]) - d1_64 * prev - prev2
        prev2, prev = prev, y
        if n >= 0:
            out[n] = y.sum()
    return out[radius : 3 * radius + 1].astype(np.float32)


def _trimmed(kernel: F32) -> F32:
    """Without the outermost taps when both are below 1e-6 (for sigma 1.5: 0 and 1.4e-7): 9 taps, not 11."""
    while len(kernel) > 3 and abs(kernel[0]) < 1e-6 and abs(kernel[-1]) < 1e-6:
        kernel = kernel[1:-1]
    return kernel


_KERNEL = _trimmed(_impulse_response(_SIGMA))
_RADIUS = len(_KERNEL) // 2


_MASK = pyvips.Image.new_from_list([[float(tap) for tap in _KERNEL]], scale=1, offset=0)


def _blur(planes: F32) -> F32:
    """Blur each band of (height, width, bands) with zeros outside, as FastGaussian (libvips does the work)."""
    h, w, _ = planes.shape
    image = pyvips.Image.new_from_array(planes)
    padded = image.embed(_RADIUS, _RADIUS, w + 2 * _RADIUS, h + 2 * _RADIUS, extend="black")
    blurred = padded.convsep(_MASK, precision="float").crop(_RADIUS, _RADIUS, w, h)
    out: F32 = blurred.numpy().astype(np.float32, copy=False)
    return out.reshape(h, w, -1)


def _srgb_to_linear(encoded: F32) -> F32:
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _to_linear(image: npt.NDArray[np.uint8]) -> F32:
    """(h, w, 3) linear sRGB in 0..1, alpha blended onto 0.5 grey in sRGB first."""
    rgb = image[..., :3].astype(np.float32) / np.float32(255)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / np.float32(255)
        rgb = alpha * rgb + (np.float32(1) - alpha) * np.float32(0.5)
    return _srgb_to_linear(rgb)


def _positive_xyb(linear: F32) -> F32:
    mixed = linear @ _OPSIN.T + _BIAS
    mixed = np.cbrt(np.maximum(mixed, np.float32(0))) + _NEG_BIAS_CBRT
    x = np.float32(0.5) * (mixed[..., 0] - mixed[..., 1])
    y = np.float32(0.5) * (mixed[..., 0] + mixed[..., 1])
    b = mixed[..., 2]
    planes = [x * np.float32(14) + np.float32(0.42), y + np.float32(0.01), (b - y) + np.float32(0.55)]
    return np.stack(planes, axis=2)


def _downsample(linear: F32) -> F32:
    """2x2 box average; an odd last row or column repeats the edge pixel."""
    h, w, _ = linear.shape
    if h % 2:
        linear = np.concatenate([linear, linear[-1:]], axis=0)
    if w % 2:
        linear = np.concatenate([linear, linear[:, -1:]], axis=1)
    total = linear[0::2, 0::2] + linear[0::2, 1::2] + linear[1::2, 0::2] + linear[1::2, 1::2]
    return (total * np.float32(0.25)).astype(np.float32)


def _norms(values: F32) -> list[npt.NDArray[np.float64]]:
    """Mean and 4-norm per channel of (h, w, 3), accumulated in float64."""
    flat = values.reshape(-1, 3)
    squared = flat * flat
    return [flat.mean(axis=0, dtype=np.float64), np.sqrt(np.sqrt((squared * squared).mean(axis=0, dtype=np.float64)))]


class _Scale:
    """One scale of an image: its XYB planes, and what the metric blurs of them alone (x*x and x)."""

    def __init__(self, xyb: F32) -> None:
        self.xyb = xyb
        self.blurred = _blur(np.concatenate([xyb * xyb, xyb], axis=2))


def _scale_norms(ref: _Scale, img2: F32) -> npt.NDArray[np.float64]:
    """(3 channels, 6 norms): ssim mean, ssim 4-norm, ringing mean, ringing 4-norm, blur mean, blur 4-norm."""
    img1 = ref.xyb
    blurred = _blur(np.concatenate([img2 * img2, img1 * img2, img2], axis=2))
    s22, s12, mu2 = (np.ascontiguousarray(blurred[..., 3 * i : 3 * i + 3]) for i in range(3))
    s11, mu1 = (np.ascontiguousarray(ref.blurred[..., 3 * i : 3 * i + 3]) for i in range(2))
    one = np.float32(1)
    num_m = one - (mu1 - mu2) ** 2
    num_s = np.float32(2) * (s12 - mu1 * mu2) + _C2
    denom_s = (s11 - mu1 * mu1) + (s22 - mu2 * mu2) + _C2
    ssim = np.maximum(one - num_m * num_s / denom_s, np.float32(0))
    d1 = (one + np.abs(img2 - mu2)) / (one + np.abs(img1 - mu1)) - one
    ringing, blurring = np.maximum(d1, np.float32(0)), np.maximum(-d1, np.float32(0))
    return np.stack([*_norms(ssim), *_norms(ringing), *_norms(blurring)], axis=1)


class Reference:
    """An original prepared once (linear light and XYB at every scale, its own blurred planes) to score many
    distorted versions of it, as a quality search does: each score then costs about 40 % less."""

    def __init__(self, original: npt.NDArray[np.uint8]) -> None:
        self.shape = original.shape[:2]
        self.scales: list[_Scale] = []
        linear = _to_linear(original)
        for scale in range(_NUM_SCALES):
            if linear.shape[0] < 8 or linear.shape[1] < 8:
                break
            if scale:
                linear = _downsample(linear)  # checked before, as the reference does
            self.scales.append(_Scale(_positive_xyb(linear)))

    def score(self, distorted: npt.NDArray[np.uint8]) -> float:
        """Score `distorted` (same size, uint8 sRGB, 3 or 4 bands) against the original: 100 means identical."""
        if self.shape != distorted.shape[:2]:
            raise ValueError(f"image sizes differ: {self.shape} vs {distorted.shape[:2]}")
        linear = _to_linear(distorted)
        norms: list[npt.NDArray[np.float64]] = []
        for scale, ref in enumerate(self.scales):
            if scale:
                linear = _downsample(linear)
            norms.append(_scale_norms(ref, _positive_xyb(linear)))
        return _score(norms)


def ssimulacra2(original: npt.NDArray[np.uint8], distorted: npt.NDArray[np.uint8]) -> float:
    """Score `distorted` against `original` (same size, uint8 sRGB, 3 or 4 bands): 100 means identical."""
    if original.shape[:2] != distorted.shape[:2]:
        raise ValueError(f"image sizes differ: {original.shape[:2]} vs {distorted.shape[:2]}")
    return Reference(original).score(distorted)


def _score(scales: list[npt.NDArray[np.float64]]) -> float:
    total = 0.0
    i = 0
    for c in range(3):
        for norms in scales:
            for n in range(2):
                # ssim, ringing, blurring; the weight index runs over the scales present, as in the reference
                total += _WEIGHTS[i] * abs(norms[c, n])
                total += _WEIGHTS[i + 1] * abs(norms[c, 2 + n])
                total += _WEIGHTS[i + 2] * abs(norms[c, 4 + n])
                i += 3
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0 else 100.0
