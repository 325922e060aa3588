"""Image loading: every PIL mode becomes the right 8-bit RGB values; bad files fail clearly."""

import io

import numpy as np
import pytest
from PIL import Image

from inctrl.data.images import ImageLoadError, list_images, load_image, load_mask


def test_grayscale_becomes_equal_rgb(tmp_path):
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.mode == "RGB"
    arr = np.asarray(img)
    assert arr.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(arr[..., c], gray)


def test_rgba_is_composited_on_black(tmp_path):
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [200, 100, 50, 128]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    arr = np.asarray(load_image(tmp_path / "a.png")).astype(int)
    np.testing.assert_array_equal(arr[0, 0], [200, 100, 50])  # opaque: unchanged
    np.testing.assert_array_equal(arr[0, 1], [0, 0, 0])  # transparent: black
    np.testing.assert_allclose(arr[0, 2], np.array([200, 100, 50]) * 128 / 255, atol=1)


def test_palette_image_maps_to_palette_colours(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30, 240, 120, 60] + [0] * (256 * 3 - 6))
    img.putdata([0, 1])
    img.save(tmp_path / "p.png")
    arr = np.asarray(load_image(tmp_path / "p.png"))
    np.testing.assert_array_equal(arr[0], [[10, 20, 30], [240, 120, 60]])


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    data = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(data).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    arr = np.asarray(load_image(tmp_path / "d.png"))
    np.testing.assert_array_equal(arr[0, :, 0], [0, 1, 128, 255])


def test_mode_i_image_with_16bit_values(tmp_path):
    data = np.array([[0, 65535]], dtype=np.int32)
    Image.fromarray(data, "I").save(tmp_path / "i.tif")
    arr = np.asarray(load_image(tmp_path / "i.tif"))
    np.testing.assert_array_equal(arr[0, :, 0], [0, 255])


def test_exif_rotation_is_applied(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = [255, 0, 0]  # left half red, right half blue
    arr[:, 10:] = [0, 0, 255]
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "e.jpg", exif=exif.tobytes(), quality=100)
    out = np.asarray(load_image(tmp_path / "e.jpg")).astype(int)
    assert out.shape == (20, 10, 3)  # portrait after transpose
    assert out[1, 5, 0] > 200 and out[1, 5, 2] < 60  # red on top
    assert out[-2, 5, 2] > 200 and out[-2, 5, 0] < 60  # blue at the bottom


def test_cmyk_jpeg_converts(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    arr = np.asarray(load_image(tmp_path / "c.jpg")).astype(int)
    assert arr.shape == (4, 4, 3)
    assert arr[0, 0, 0] > 200 and arr[0, 0, 1] < 60 and arr[0, 0, 2] < 60  # red


def test_truncated_file_error_names_the_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "PNG")
    bad = tmp_path / "broken.png"
    bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="broken.png"):
        load_image(bad)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.png.*expected"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_list_images_skips_junk_and_sorts(tmp_path):
    for name in ["b.png", "a.JPG", "c.bmp"]:
        Image.new("L", (2, 2)).save(tmp_path / name, format=name.split(".")[1].replace("JPG", "JPEG"))
    (tmp_path / ".DS_Store").write_bytes(b"\0\0")
    (tmp_path / "Thumbs.db").write_bytes(b"\0")
    (tmp_path / "._b.png").write_bytes(b"\0")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    Image.new("L", (2, 2)).save(tmp_path / "sub" / "d.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.bmp"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.JPG", "b.png", "c.bmp", "d.png"]


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")
    with pytest.raises(ValueError, match="no images found in .*empty"):
        list_images(empty)


def test_load_mask_binary_and_resized(tmp_path):
    m = np.zeros((4, 6), np.uint8)
    m[1:3, 2:4] = 1  # VisA-style small label value
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png")
    assert mask.dtype == bool and mask.shape == (4, 6) and mask.sum() == 4
    big = load_mask(tmp_path / "m.png", size=(12, 8))
    assert big.shape == (8, 12) and big.sum() == 16
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0, 2] = 255
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "rgb.png"), [[True, False], [False, False]])
