"""The model's frame (inctrl.frame): one geometry for images, masks and overlays, and the one
colour mapping of anomaly maps."""

import numpy as np
import pytest
from PIL import Image

from inctrl.backbone import CLIP_MEAN, CLIP_STD
from inctrl.evaluate import mask_in_model_frame
from inctrl.frame import InterpolationMode, colour_scale, model_frame, overlay_heatmap

# magma's end colours (Matplotlib's table), and the same times 255, truncated.
MAGMA_FIRST = (0.001462, 0.000466, 0.013866)
MAGMA_LAST = (0.987053, 0.991438, 0.749504)


def _columns(width: int, height: int) -> Image.Image:
    """An L image whose value is its column index: the crop offset can be read off it."""
    return Image.fromarray(np.tile(np.arange(width, dtype=np.uint8), (height, 1)), mode="L")


@pytest.mark.parametrize("width, left", [(243, 2), (245, 2), (241, 0), (240, 0)])
def test_crop_offset_uses_torchvision_rounding(width, left):
    # No resize (the short side is already 240); the crop starts at round((W - 240) / 2),
    # halves to the even neighbour: 1.5 -> 2, 2.5 -> 2, 0.5 -> 0.
    out = np.asarray(model_frame(240)(_columns(width, 240)))
    assert out.shape == (240, 240)
    assert np.array_equal(out[0], np.arange(left, left + 240))


@pytest.mark.parametrize("size, mode", [((241, 517), "RGB"), ((300, 200), "L"), ((517, 241), "RGBA"),
                                        ((333, 250), "RGB")])
def test_resize_then_centre_crop_by_hand(size, mode):
    w, h = size
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    s = 240
    # shorter side to S, the longer one int(S * long / short) (rounded down)
    nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    left, top = int(round((nw - s) / 2)), int(round((nh - s) / 2))
    expected = image.resize((nw, nh), Image.BICUBIC).crop((left, top, left + s, top + s))
    out = model_frame(s)(image)
    assert out.mode == mode and out.size == (s, s)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    if (w, h) == (241, 517):  # the long side is rounded down: 514.85 -> 514, crop 137 in
        assert (nh, top) == (514, 137)


def test_backbone_sees_the_frame(tiny_model):
    # The model's own transform starts with model_frame: un-normalised, it gives back the
    # framed pixels (column 2 of a 243 px wide image is the first column it sees).
    image = _columns(243, 240).convert("RGB")
    pixels = tiny_model.transform(image).numpy()
    mean, std = np.array(CLIP_MEAN)[:, None, None], np.array(CLIP_STD)[:, None, None]
    seen = np.rint((pixels * std + mean) * 255).transpose(1, 2, 0)
    assert np.array_equal(seen, np.asarray(model_frame(240)(image), dtype=np.float64))
    assert np.array_equal(seen[0, :, 0], np.arange(2, 242))


@pytest.mark.parametrize("w, h", [(243, 240), (241, 517), (517, 241), (300, 200), (250, 239)])
def test_mask_lands_on_the_pixels_of_the_image(tmp_path, w, h):
    region = np.zeros((h, w), np.uint8)
    region[h // 3: h // 2, w // 4: w // 2 + 1] = 255
    region[:, w // 2 + 7] = 255  # a one-pixel line: off by one shows
    Image.fromarray(region).save(tmp_path / "mask.png")
    mask = mask_in_model_frame(tmp_path / "mask.png", 240)
    image = model_frame(240, InterpolationMode.NEAREST)(Image.fromarray(region).convert("RGB"))
    assert mask.shape == (240, 240) and mask.dtype == bool
    assert np.array_equal(mask, np.asarray(image)[..., 0] > 0)
    # and the bicubic image the model sees is bright where the block's mask is (edges aside)
    block = region.copy()
    block[:, w // 2 + 7] = 0
    Image.fromarray(block).save(tmp_path / "block.png")
    mask = mask_in_model_frame(tmp_path / "block.png", 240)
    seen = np.asarray(model_frame(240)(Image.fromarray(block).convert("RGB")))[..., 0]
    inner, near = mask.copy(), mask.copy()
    for shift in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        inner &= np.roll(mask, shift, (0, 1))
        near |= np.roll(mask, shift, (0, 1))
    assert inner.any() and (seen[inner] > 200).all()
    assert (seen[~near] < 55).all()


def test_mask_off_by_one_regression(tmp_path):
    # 243 px wide: the image crop starts at column 2, so must the mask's (a plain
    # (W - S) // 2 would start at column 1).
    region = np.zeros((240, 243), np.uint8)
    region[:, 2] = 255
    Image.fromarray(region).save(tmp_path / "mask.png")
    mask = mask_in_model_frame(tmp_path / "mask.png", 240)
    assert mask[:, 0].all() and not mask[:, 1:].any()


def test_overlay_end_colours_by_hand():
    amap = np.array([[0.0, 2.0], [4.0, -1.0]], np.float32)
    black = np.zeros((2, 2, 3), np.uint8)
    out = overlay_heatmap(black, amap, vmin=0.0, vmax=2.0, alpha=1.0)
    first = [int(255 * c) for c in MAGMA_FIRST]  # [0, 0, 3]
    last = [int(255 * c) for c in MAGMA_LAST]  # [251, 252, 191]
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == first and out[1, 1].tolist() == first  # below vmin: first colour
    assert out[0, 1].tolist() == last and out[1, 0].tolist() == last  # above vmax: last colour


def test_overlay_blend_by_hand():
    from matplotlib import colormaps

    image = np.array([[[255, 0, 10], [100, 200, 30]]], np.uint8)  # [1, 2, 3]
    amap = np.array([[1.0, 3.0]], np.float32)
    out = overlay_heatmap(image, amap, alpha=0.25)  # default scale: the map's own 1..3
    heat = colormaps["magma"](np.array([0.0, 1.0]))[:, :3]
    expected = (0.75 * image[0] / 255 + 0.25 * heat) * 255  # truncated to uint8
    assert np.abs(out[0] - np.floor(expected)).max() <= 1
    assert out[0, 0, 0] in (191, 192) and out[0, 1, 1] == int((0.75 * 200 / 255 + 0.25 * MAGMA_LAST[1]) * 255)
    assert np.array_equal(overlay_heatmap(image, amap, alpha=0.0), image)  # alpha 0: the image


def test_overlay_inputs_and_scale():
    amap = np.full((3, 4), 0.7, np.float32)
    assert colour_scale(amap) == (pytest.approx(0.7), pytest.approx(0.7))
    assert colour_scale(amap, vmin=0, vmax=2) == (0, 2)
    gray = np.full((3, 4), 0.5)
    out = overlay_heatmap(gray, amap, alpha=0.0)  # float gray in [0, 1] -> RGB
    assert out.shape == (3, 4, 3) and (out == 127).all()
    constant = overlay_heatmap(np.zeros((3, 4, 4), np.uint8), amap, alpha=1.0)  # alpha channel dropped
    assert (constant == [int(255 * c) for c in MAGMA_FIRST]).all()  # a constant map: first colour
    with pytest.raises(ValueError, match="image's size"):
        overlay_heatmap(np.zeros((5, 5, 3), np.uint8), amap)
