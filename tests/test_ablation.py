"""The ablation options of the model: the T/P/I component mask and the image feature
constructions (inctrl.ablation), honoured by the forward pass, the loss and training."""

import pytest
import torch

from inctrl.ablation import (
    check_components,
    combinations,
    feature_width,
    image_feature,
    with_ablation,
)
from inctrl.checkpoint import config_from_dict, load_checkpoint, save_checkpoint
from inctrl.data.synthetic import make_synthetic_dataset
from inctrl.features import encode_paths
from inctrl.loss import focal_loss, inctrl_loss
from inctrl.train import TrainConfig, auxiliary_samples, train_with_config

B, K, E = 6, 3, 640


def _inputs(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    n_layers, n = len(model.backbone.taps), model.backbone.n_patches
    text = torch.nn.functional.normalize(torch.randn(B, 2, E, generator=g), dim=-1)
    return (torch.randn(B, E, generator=g), torch.randn(B, K, E, generator=g), text,
            torch.rand(B, n_layers, n, generator=g) / 2)


def _scores(model, query, prompts, text, maps):
    with torch.no_grad():
        return model.forward_episodes(query, prompts, text, layer_maps=maps).score


def test_constructions_have_their_shapes_and_the_residual_of_equals_is_zero():
    q, p = torch.randn(5, 8), torch.randn(1, 8)
    assert torch.equal(image_feature("residual", q, p), p - q)           # Eq. 4, official sign
    assert image_feature("concatenation", q, p).shape == (5, 16)
    assert torch.equal(image_feature("concatenation", q, p)[:, 8:], p.expand(5, 8))
    assert torch.allclose(image_feature("average", q, p), (q + p) / 2)
    assert torch.count_nonzero(image_feature("residual", q, q)) == 0      # identical query and prompts
    assert torch.equal(image_feature("average", q, q), q)
    assert (feature_width("concatenation", 640), feature_width("average", 640)) == (1280, 640)
    with pytest.raises(ValueError, match="image_feature must be one of"):
        image_feature("sum", q, p)


def test_component_names_are_checked_and_ordered():
    assert check_components("ip") == "PI" and check_components("ITP") == "TPI"
    assert combinations() == ["T", "P", "I", "TP", "TI", "PI", "TPI"]
    for bad in ("", "TT", "X", "TPIX"):
        with pytest.raises(ValueError, match="distinct letters of 'TPI'"):
            check_components(bad)


def test_a_model_without_a_signal_never_reads_it(tiny_model):
    query, prompts, text, maps = _inputs(tiny_model)
    other_text, other_maps = _inputs(tiny_model, seed=1)[2:]
    reads = {}
    for parts in ("TP", "TI", "PI", "P"):
        model = with_ablation(tiny_model, parts)
        base = _scores(model, query, prompts, text, maps)
        with torch.no_grad():
            for p in [*model.adapter.parameters(), *model.image_head.parameters()]:
                p.add_(0.5)
        reads[parts] = {"I": not torch.equal(_scores(model, query, prompts, text, maps), base)}
        with torch.no_grad():
            base = _scores(model, query, prompts, text, maps)
        reads[parts]["T"] = not torch.equal(_scores(model, query, prompts, other_text, maps), base)
        reads[parts]["P"] = not torch.equal(_scores(model, query, prompts, text, other_maps), base)
    assert reads == {"TP": {"I": False, "T": True, "P": True}, "TI": {"I": True, "T": True, "P": False},
                     "PI": {"I": True, "T": False, "P": True}, "P": {"I": False, "T": False, "P": True}}


def test_without_p_the_score_is_phi_alone(tiny_model):
    model = with_ablation(tiny_model, "TI")
    query, prompts, text, maps = _inputs(tiny_model)
    with torch.no_grad():
        out = model.forward_episodes(query, prompts, text, layer_maps=maps)
        by_hand = model.holistic_head((out.image_score + out.text_score)[:, None].expand(-1, maps.shape[-1]))
    assert torch.allclose(out.score, by_hand, atol=1e-6) and torch.allclose(out.holistic_score, by_hand)


def test_the_method_is_the_default_and_the_model_itself(tiny_model):
    assert (tiny_model.config.components, tiny_model.config.image_feature) == ("TPI", "residual")
    assert with_ablation(tiny_model) is tiny_model
    wide = with_ablation(tiny_model, "TPI", "concatenation")
    assert wide.backbone is tiny_model.backbone and wide.image_head.projection1.in_features == 2 * E


def test_loss_without_the_image_term(tiny_model):
    query, prompts, text, maps = _inputs(tiny_model)
    labels = torch.tensor([0, 1] * (B // 2))
    with torch.no_grad():
        out = tiny_model.forward_episodes(query, prompts, text, layer_maps=maps)
    loss, final, image = inctrl_loss(out, labels, terms=True, image_weight=0)
    assert torch.equal(loss, focal_loss(out.score, labels)) and torch.equal(final, loss) and image == 0
    both = focal_loss(out.score, labels) + focal_loss(out.image_score, labels)
    assert torch.equal(inctrl_loss(out, labels), both)


@pytest.fixture(scope="module")
def aux(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("aux") / "synthetic"
    make_synthetic_dataset(root, categories=["brick", "pill"], n_normal=8, n_anomalous=4, size=64,
                           show_progress=False)
    return root, encode_paths(tiny_model, [s.path for s in auxiliary_samples([root])])


def test_training_without_i_never_touches_psi_or_eta(aux, tmp_path):
    root, feats = aux
    config = TrainConfig([str(root)], shots=2, epochs=1, steps_per_epoch=4, seed=3, components="TP")
    trained = train_with_config(config, tmp_path / "tp", device="cpu", progress=False, features=feats).model
    initial = type(trained)(trained.config, backbone=trained.backbone)  # the same head seed
    start = dict(initial.named_parameters())
    for name, weights in trained.named_parameters():
        if not name.startswith("backbone.") and ".bn1." not in name:  # bn1: unused in every model
            # psi and eta never learn without I; phi does
            assert (not torch.equal(weights, start[name])) == name.startswith("holistic_head."), name
    assert all(row["loss_image"] == 0 for row in train_with_config(
        config, tmp_path / "tp2", device="cpu", progress=False, features=feats).history)


def test_checkpoints_keep_the_ablation_and_old_ones_load_as_the_method(aux, tiny_model, tmp_path):
    model = with_ablation(tiny_model, "PI", "concatenation")
    path = save_checkpoint(model, tmp_path / "pi.pt")
    again = load_checkpoint(path, device="cpu")
    assert (again.config.components, again.config.image_feature) == ("PI", "concatenation")
    query, prompts, text, maps = _inputs(model)
    assert torch.equal(_scores(again, query, prompts, text, maps), _scores(model, query, prompts, text, maps))
    old = {k: v for k, v in tiny_model.config.to_dict().items() if k not in ("components", "image_feature")}
    assert config_from_dict(old).components == "TPI" and config_from_dict(old).image_feature == "residual"
