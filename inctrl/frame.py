"""The model's frame: the one preprocessing geometry, and anomaly maps drawn over it.

The backbone sees an image after :func:`model_frame` (shorter side resized to S, centre
S x S crop, torchvision's rounding); its maps live on that S x S grid. Anything compared
with or drawn over a map - the image under a heatmap overlay, a ground-truth mask, the
pixels of a feature-free baseline - goes through the same :func:`model_frame`, so it lands
on exactly the pixels the model saw. :func:`overlay_heatmap` is the one colour mapping of
anomaly maps (the command line's PNGs and the book's figures).

Matplotlib is imported inside :func:`overlay_heatmap` only: ``import inctrl`` stays free of it.
"""

from __future__ import annotations

import numpy as np
from torchvision import transforms

InterpolationMode = transforms.InterpolationMode

#: The one colormap of anomaly maps: the book's figures and the command line's heatmap PNGs.
ANOMALY_CMAP = "magma"


def model_frame(size: int, interpolation: InterpolationMode = InterpolationMode.BICUBIC
                ) -> transforms.Compose:
    """The model's input geometry: shorter side resized to ``size``, then a centre crop.

    The backbone's transform starts with it, so a mask or an overlay brought into the frame
    with it covers exactly the pixels the model saw. The geometry is torchvision's: a
    W x H image (W <= H) is resized to ``size`` x ``int(size * H / W)`` (the long side
    rounded down), and the crop starts ``int(round((H' - size) / 2))`` pixels in (Python's
    round: halves go to the even neighbour); likewise with the sides swapped.

    Args:
        size: S, the side of the square frame (the backbone's ``image_size``).
        interpolation: the resampling of the resize: bicubic for images (as the model
            sees them), ``InterpolationMode.NEAREST`` for masks, so they stay binary.

    Returns:
        A torchvision transform, PIL image (any mode) -> S x S PIL image of the same mode.
    """
    return transforms.Compose([transforms.Resize(size, interpolation=interpolation),
                               transforms.CenterCrop(size)])


def colour_scale(amap, vmin: float | None = None, vmax: float | None = None) -> tuple[float, float]:
    """The colour scale of an anomaly map: the given ends, or the map's own minimum / maximum.

    Args:
        amap: [H, W] anomaly map (array or anything ``np.asarray`` takes).
        vmin: the value drawn with the colormap's first colour; default ``amap.min()``.
        vmax: the value drawn with its last colour; default ``amap.max()``.

    Returns:
        ``(vmin, vmax)`` as floats.
    """
    amap = np.asarray(amap)
    lo = float(amap.min()) if vmin is None else vmin
    hi = float(amap.max()) if vmax is None else vmax
    return lo, hi


def overlay_heatmap(image, amap, *, vmin: float | None = None, vmax: float | None = None,
                    alpha: float = 0.5, cmap: str | None = None) -> np.ndarray:
    """An anomaly map colour-mapped and blended over an image, as 8-bit RGB.

    The map is normalised to ``(amap - vmin) / (vmax - vmin)``, clipped to [0, 1] (values
    outside the scale take the colormap's end colours, as in Matplotlib), colour-mapped,
    and alpha-blended with the image; the blend is truncated to uint8. A constant scale
    (``vmax <= vmin``) draws the whole map in the first colour.

    Args:
        image: [H, W, 3] picture, a PIL image or a uint8 array (0..255), or a float array
            in [0, 1] (clipped); [H, W] gray is repeated to RGB, an alpha channel is dropped.
            Bring it into the model's frame first (:func:`model_frame`) to overlay a map of
            the model.
        amap: [H, W] anomaly map at the image's resolution (e.g. ``out.anomaly_map()[i]``).
        vmin: the value drawn with the first colour; default the map's minimum.
        vmax: the value drawn with the last colour; default the map's maximum.
        alpha: the weight of the map's colours (0: the image alone, 1: the map alone).
        cmap: a Matplotlib colormap name; default :data:`ANOMALY_CMAP`.

    Returns:
        [H, W, 3] uint8 RGB: ``(1 - alpha) * image + alpha * cmap(normalised map)``.

    Raises:
        ValueError: the map is not 2-D or its size is not the image's.
    """
    from matplotlib import colormaps

    if cmap is None:
        cmap = ANOMALY_CMAP
    picture = np.asarray(image)
    if picture.dtype == np.uint8:
        picture = picture.astype(np.float32) / 255
    else:
        picture = np.clip(picture.astype(np.float64, copy=False), 0, 1)
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=-1)
    picture = picture[..., :3]
    amap = np.asarray(amap)
    if amap.ndim != 2 or amap.shape != picture.shape[:2]:
        raise ValueError(f"the anomaly map must be 2-D and of the image's size {picture.shape[:2]}, "
                         f"got shape {amap.shape}")
    lo, hi = colour_scale(amap, vmin, vmax)
    scaled = np.clip((amap - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(amap)
    heat = colormaps[cmap](scaled)[..., :3]
    blend = ((1 - alpha) * picture + alpha * heat) * 255
    return blend.astype(np.uint8)
