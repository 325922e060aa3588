"""The equations of book/equations.md §2-5 against hand computations, and batch invariance."""

import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import inctrl
from inctrl.backbone import CPU_SIMILARITY_CAP, default_taps
from inctrl.model import TEXT_TEMPERATURE, InCTRL, ScoreHead, nearest_prompt_distance


def brute_force_distance(query, prompts):
    """min over prompt patches of 0.5 * (1 - cos), with explicit loops."""
    n_layers, batch, n, _ = query.shape
    out = torch.empty(n_layers, batch, n)
    for layer in range(n_layers):
        for b in range(batch):
            bank = prompts[layer, 0 if prompts.shape[1] == 1 else b]
            for j in range(n):
                cos = [F.cosine_similarity(query[layer, b, j], p, dim=0) for p in bank]
                out[layer, b, j] = min(0.5 * (1 - c) for c in cos)
    return out


def test_patch_distance_on_a_hand_example():
    # One layer, one query with two 2-d patches, prompt patches (0, 1) and (-1, 0).
    query = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]]]])
    prompts = torch.tensor([[[[0.0, 1.0], [-1.0, 0.0]]]])
    got = nearest_prompt_distance(F.normalize(query, dim=-1), F.normalize(prompts, dim=-1))
    # (1,0): cos 0 and -1 -> 0.5 and 1.0 -> 0.5.  (0,2): cos 1 and 0 -> 0.0 and 0.5 -> 0.0.
    assert torch.allclose(got, torch.tensor([[[0.5, 0.0]]]))


@pytest.mark.parametrize("shared", [True, False])
def test_patch_distance_matches_brute_force_and_chunking(shared):
    g = torch.Generator().manual_seed(1)
    query = F.normalize(torch.randn(3, 4, 5, 6, generator=g), dim=-1)
    prompts = F.normalize(torch.randn(3, 1 if shared else 4, 10, 6, generator=g), dim=-1)
    expected = brute_force_distance(query, prompts)
    assert torch.allclose(nearest_prompt_distance(query, prompts), expected, atol=1e-6)
    # Tiny element budgets force chunks of queries, then of prompt patches too: same answer.
    for budget in (1, 3 * 5 * 3, 3 * 5 * 10 * 2):
        got = nearest_prompt_distance(query, prompts, max_elements=budget)
        assert torch.allclose(got, expected, atol=1e-6), budget


def test_similarity_budget_is_one_mlp_activation_capped_on_the_cpu(tiny_model):
    backbone = tiny_model.backbone
    mlp = backbone.clip.visual.transformer.resblocks[0].mlp.c_fc.out_features
    assert backbone.similarity_budget(1) == (backbone.n_patches + 1) * mlp
    assert backbone.similarity_budget(4) == 4 * (backbone.n_patches + 1) * mlp
    assert backbone.similarity_budget(10_000) == CPU_SIMILARITY_CAP


def test_patch_distance_of_unit_queries_skips_the_division():
    g = torch.Generator().manual_seed(2)
    raw = torch.randn(2, 3, 5, 4, generator=g) * 3
    prompts = F.normalize(torch.randn(2, 1, 7, 4, generator=g), dim=-1)
    unit = F.normalize(raw, dim=-1)
    expected = brute_force_distance(raw, prompts)
    assert torch.allclose(nearest_prompt_distance(raw, prompts), expected, atol=1e-6)
    assert torch.allclose(nearest_prompt_distance(unit, prompts, unit_query=True), expected, atol=1e-6)
    # raw tokens read as unit vectors: the division is really skipped
    assert not torch.allclose(nearest_prompt_distance(raw, prompts, unit_query=True), expected, atol=1e-2)


def test_patch_distance_rejects_mismatched_prompt_batch():
    with pytest.raises(ValueError, match="prompts for 3 queries"):
        nearest_prompt_distance(torch.zeros(1, 2, 4, 3), torch.zeros(1, 3, 4, 3))


def test_every_score_equals_its_equation(tiny_model, images):
    model = tiny_model
    bank = model.prompt_bank(images[:3], name="metal_nut")
    out = model.score(images[3:], bank)
    feats = model.encode(images[3:])
    prompt_feats = model.encode(images[:3])
    with torch.no_grad():
        # Eq. 1-2: per layer nearest distance over the pooled 3*225 prompt patches, mean, max.
        q = F.normalize(feats.tokens, dim=-1)
        p = F.normalize(prompt_feats.tokens, dim=-1).reshape(q.shape[0], 1, -1, q.shape[-1])
        m_layers = 0.5 * (1 - torch.einsum("lbnd,lmd->lbnm", q, p[:, 0]).amax(-1))
        patch_map = m_layers.mean(0)
        assert torch.allclose(out.layer_maps.flatten(2), m_layers.transpose(0, 1), atol=1e-6)
        assert torch.allclose(out.patch_map.flatten(1), patch_map, atol=1e-6)
        assert torch.allclose(out.patch_score, patch_map.max(1).values, atol=1e-6)
        # Eq. 3-5: prototype = mean of adapted prompts; residual = prototype - adapted query.
        prototype = model.adapter(prompt_feats.embedding).mean(0)
        s_i = model.image_head(prototype - model.adapter(feats.embedding))
        assert torch.allclose(out.image_score, s_i, atol=1e-6)
        # Eq. 6: softmax over [g.t_n, g.t_a] at temperature 100, from the prompt ensembles.
        normal, anomalous = inctrl.prompt_ensemble("metal nut")
        t = torch.stack([F.normalize(F.normalize(model.backbone.encode_text(s), dim=-1).mean(0), dim=0)
                         for s in (normal, anomalous)])
        g = F.normalize(feats.embedding, dim=-1)
        a, n = (g @ t[1]) * 100, (g @ t[0]) * 100
        s_a = torch.exp(a) / (torch.exp(a) + torch.exp(n))
        assert torch.allclose(out.text_score, s_a, atol=1e-5)
        # Eq. 7-8: M+ = M + s_i + s_a on every cell; s = (phi(M+) + s_p) / 2.
        holistic = patch_map + s_i[:, None] + s_a[:, None]
        assert torch.allclose(out.holistic_map.flatten(1), holistic, atol=1e-5)
        assert torch.allclose(out.score, (model.holistic_head(holistic) + patch_map.max(1).values) / 2,
                              atol=1e-5)


def test_heads_are_linear_relu_bn_and_ignore_bn1():
    torch.manual_seed(0)
    head = ScoreHead(10)
    with torch.no_grad():
        for bn in (head.bn2, head.bn3):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    head.eval()
    x = torch.randn(4, 10)

    def bn(layer, v):
        scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
        return (v - layer.running_mean) * scale + layer.bias

    h = bn(head.bn2, torch.relu(x @ head.projection1.weight.T + head.projection1.bias))
    h = bn(head.bn3, torch.relu(h @ head.projection2.weight.T + head.projection2.bias))
    expected = torch.sigmoid(h @ head.projection3.weight.T + head.projection3.bias).squeeze(-1)
    with torch.no_grad():
        assert torch.allclose(head(x), expected, atol=1e-6)
        head.bn1.weight.fill_(7.0)
        head.bn1.running_mean.fill_(3.0)
        assert torch.allclose(head(x), expected, atol=1e-6)


def test_trainable_parts_have_the_published_shapes(tiny_model):
    adapter = [m for m in tiny_model.adapter.fc]
    assert [type(m).__name__ for m in adapter] == ["Linear", "ReLU", "Linear", "ReLU"]
    assert adapter[0].bias is None and adapter[2].bias is None
    assert tuple(adapter[0].weight.shape) == (160, 640)
    assert tiny_model.holistic_head.projection1.in_features == 225
    assert tiny_model.image_head.projection1.in_features == 640
    # 334,916 parameters including the unused bn1 affine parameters (the released official checkpoints).
    assert sum(p.numel() for p in tiny_model.trainable_parameters()) == 334_916
    assert not any(p.requires_grad for p in tiny_model.backbone.parameters())


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5])
def test_batched_scores_equal_one_at_a_time(tiny_model, images, batch_size):
    bank = tiny_model.prompt_bank(images[:2], name="elpv")
    queries = images[2:]
    single = [tiny_model.score(queries[i], bank) for i in range(len(queries))]
    batched = tiny_model.score(queries, bank, batch_size=batch_size)
    for field in ("score", "image_score", "text_score", "patch_score", "patch_map", "holistic_map"):
        one = torch.cat([getattr(s, field) for s in single])
        assert torch.allclose(getattr(batched, field), one, atol=1e-5), field


def test_training_forward_equals_inference_with_shared_prompts(tiny_model, images):
    bank = tiny_model.prompt_bank(images[:2], name="elpv")
    query, prompts = tiny_model.encode(images[2:]), tiny_model.encode(images[:2])
    b = len(query)
    with torch.no_grad():
        episodes = tiny_model.forward_episodes(
            query.embedding, prompts.embedding.expand(b, -1, -1),
            tiny_model.text_features("elpv").expand(b, -1, -1), query_tokens=query.tokens,
            prompt_tokens=prompts.tokens.unsqueeze(1).expand(-1, b, -1, -1, -1))
    with pytest.raises(ValueError, match="layer_maps or both"):
        tiny_model.forward_episodes(query.embedding, prompts.embedding.expand(b, -1, -1),
                                    tiny_model.text_features("elpv").expand(b, -1, -1))
    assert torch.allclose(episodes.score, tiny_model.score_features(query, bank).score, atol=1e-5)


def test_model_call_is_score_and_prototype_is_eq3(tiny_model, images):
    bank = tiny_model.prompt_bank(images[:3], name="elpv")
    called = tiny_model(images[3:6], bank, batch_size=2)
    scored = tiny_model.score(images[3:6], bank, batch_size=2)
    for name, value in vars(scored).items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(getattr(called, name), value), name
    assert not called.score.requires_grad
    prompts = tiny_model.encode(images[:3]).embedding
    with torch.no_grad():
        by_hand = torch.stack([tiny_model.adapter(p) for p in prompts]).mean(0)
        assert torch.allclose(tiny_model.prototype(prompts), by_hand, atol=1e-6)
        assert torch.equal(tiny_model.prototype(prompts), bank.prototype)
        # a batch of episodes [B, K, E]: one prototype per episode
        episodes = torch.stack([prompts, prompts.flip(0)[:3]])
        assert torch.allclose(tiny_model.prototype(episodes), by_hand.expand(2, -1), atol=1e-6)


def test_prompt_bank_is_encoded_once_and_reused(images):
    model = inctrl.load("tiny", device="cpu")
    calls = {"image": 0, "text": 0}
    encode_images, encode_text = model.backbone.encode_images, model.backbone.encode_text

    def count_images(x):
        calls["image"] += 1
        return encode_images(x)

    def count_text(s):
        calls["text"] += 1
        return encode_text(s)

    model.backbone.encode_images, model.backbone.encode_text = count_images, count_text
    bank = model.prompt_bank(images[:4], name="candle")
    assert calls == {"image": 1, "text": 2}  # K prompts in one batch; normal + anomalous ensembles
    queries = images.repeat(3, 1, 1, 1)  # 24 queries
    model.score(queries, bank, batch_size=4)
    assert calls == {"image": 1 + 6, "text": 2}  # one forward per query batch, no re-encoding
    model.prompt_bank(images[:2], name="candle")
    assert calls["text"] == 2  # text embeddings cached per name
    model.clear_text_cache()
    again = model.prompt_bank(images[:4], name="candle")
    assert calls["text"] == 4  # re-encoded after clearing, to the same embeddings
    assert torch.equal(again.text, bank.text)


def test_prototype_is_mean_after_adapter_and_k1_works(tiny_model, images):
    feats = tiny_model.encode(images[:3])
    bank = tiny_model.prompt_bank(images[:3], name="elpv")
    with torch.no_grad():
        assert torch.allclose(bank.prototype, tiny_model.adapter(feats.embedding).mean(0), atol=1e-6)
        assert not torch.allclose(bank.prototype, tiny_model.adapter(feats.embedding.mean(0)), atol=1e-4)
    one = tiny_model.prompt_bank(images[:1], name="elpv")
    assert one.k == 1 and one.tokens.shape[1] == 225
    out = tiny_model.score(images[:1], one)
    # The prompt itself as the query: every patch finds itself, so M = 0 and s_p = 0.
    assert out.patch_score.item() == pytest.approx(0.0, abs=1e-5)
    zero_residual = tiny_model.image_head(torch.zeros(1, 640)).item()
    assert out.image_score.item() == pytest.approx(zero_residual, abs=1e-5)


def test_text_prior_ignores_logit_scale(images):
    model = inctrl.load("tiny", device="cpu")
    bank = model.prompt_bank(images[:2], name="elpv")
    before = model.score(images, bank).text_score
    with torch.no_grad():
        model.backbone.clip.logit_scale.fill_(math.log(3.0))
    assert torch.allclose(model.score(images, bank).text_score, before)
    assert TEXT_TEMPERATURE == 100.0


def test_backbone_taps_are_raw_block_outputs(tiny_model, images):
    clip = tiny_model.backbone.clip
    taps = tiny_model.backbone.taps
    assert default_taps(12) == (7, 9, 11) and taps == default_taps(8) == (5, 6, 7)
    with torch.no_grad():
        feats = tiny_model.backbone.encode_images(images[:2])
        x = clip.visual._embeds(images[:2])
        outputs = []
        for block in clip.visual.transformer.resblocks:
            x = block(x)
            outputs.append(x)
        for layer, tap in enumerate(taps):
            assert torch.allclose(feats.tokens[layer], outputs[tap - 1][:, 1:], atol=1e-5)
        assert torch.allclose(feats.embedding, clip.encode_image(images[:2]), atol=1e-5)
    assert feats.tokens.shape == (3, 2, 225, 256)


def test_preprocessing_resizes_crops_and_normalises(tiny_model, tmp_path):
    gray = Image.new("L", (300, 200), color=128)
    path = tmp_path / "cell.png"
    gray.save(path)
    from_pil = tiny_model.prepare([gray])
    from_path = tiny_model.prepare([path])
    from_folder = tiny_model.prepare(tmp_path)
    assert from_pil.shape == (1, 3, 240, 240)
    assert torch.equal(from_pil, from_path) and torch.equal(from_pil, from_folder)
    expected = (128 / 255 - torch.tensor(inctrl.backbone.CLIP_MEAN)) / torch.tensor(inctrl.backbone.CLIP_STD)
    assert torch.allclose(from_pil[0, :, 120, 120], expected, atol=1e-5)


def test_anomaly_map_upsamples_to_the_image(tiny_model, images):
    out = tiny_model.score(images[:2], tiny_model.prompt_bank(images[2:4], name="elpv"))
    assert out.patch_map.shape == (2, 15, 15)
    amap = out.anomaly_map()
    assert amap.shape == (2, 240, 240)
    assert amap.max() <= out.patch_map.max() + 1e-6 and amap.min() >= out.patch_map.min() - 1e-6
    assert out.anomaly_map(size=(30, 60), kind="holistic").shape == (2, 30, 60)
    with pytest.raises(ValueError, match="kind"):
        out.anomaly_map(kind="pixel")


def test_bad_inputs_get_clear_errors(tiny_model, images):
    with pytest.raises(ValueError, match="at least one normal image"):
        tiny_model.prompt_bank([], name="elpv")
    with pytest.raises(ValueError, match="240x240"):
        tiny_model.backbone.encode_images(torch.zeros(1, 3, 224, 224))
    with pytest.raises(ValueError, match="neither a profile"):
        inctrl.load("huge")


def test_profiles_are_deterministic(images):
    a = inctrl.load("tiny", device="cpu")
    b = inctrl.load("tiny", device="cpu")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    c = inctrl.load("tiny", device="cpu", head_seed=1)
    threads = torch.get_num_threads()
    try:  # the fingerprint must not depend on how many threads compute it
        torch.set_num_threads(1)
        single = a.backbone.state_fingerprint()
    finally:
        torch.set_num_threads(threads)
    assert single == a.backbone.state_fingerprint()
    assert not torch.equal(a.adapter.fc[0].weight, c.adapter.fc[0].weight)
    assert a.backbone.state_fingerprint() == c.backbone.state_fingerprint()
    assert isinstance(a, InCTRL)


def test_paper_weights_offline_say_how_to_supply_a_file(tmp_path):
    with pytest.raises(inctrl.WeightsUnavailableError, match="not found"):
        inctrl.load("paper", weights=str(tmp_path / "missing.bin"))
    with pytest.raises(inctrl.WeightsUnavailableError, match="INCTRL_CLIP_WEIGHTS"):
        inctrl.load("paper")


def test_mixed_precision_stays_close_to_fp32(tiny_model, images):
    bank = tiny_model.prompt_bank(images[:2], name="elpv")
    full = tiny_model.score(images[2:], bank)
    mixed = tiny_model.score(images[2:], bank, amp=True)  # bf16 autocast on the CPU
    assert mixed.score.dtype == torch.float32
    assert torch.allclose(mixed.score, full.score, atol=5e-3)
    assert not torch.equal(mixed.patch_map, full.patch_map)  # it really ran in bf16
