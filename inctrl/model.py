"""InCTRL: in-context residual learning with few-shot sample prompts (book/equations.md §2-5).

Shapes used below: B queries, K prompts, L tapped layers, N = h*w patches per image,
D token width, E joint embedding width (640 for both shipped profiles).

One home per equation (numbered as in the book), in the paper's order:

* Eq. 1, patch distances M^l: :func:`inctrl.patch_distance.nearest_prompt_distance` (scoring
  and training; importable from here too);
* Eq. 2, M and s_p: :meth:`InCTRL._fuse`;
* Eq. 3, the prototype F_P: :meth:`InCTRL.prototype` (psi is :class:`Adapter`);
* Eq. 4-8, residual F_x, s_i (eta), s_a, M+ and s (phi): :meth:`InCTRL._fuse`;
* Eq. 9-10, the loss: :func:`inctrl.loss.inctrl_loss`.

The trainable parts psi, eta and phi are in :mod:`inctrl.heads`; the configuration, the
prompt bank and the output in :mod:`inctrl.containers` (all importable from here too).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .ablation import feature_width, image_feature
from .backbone import Backbone, ImageFeatures
from .containers import InCTRLConfig, InCTRLOutput, PromptBank
from .device import autocast
from .heads import Adapter, ScoreHead
from .inputs import as_image_list, check_bank, check_name, refuse_duplicates, to_pixels
from .patch_distance import nearest_prompt_distance
from .prompts import object_name, prompt_ensemble

TEXT_TEMPERATURE = 100.0  # fixed in the official code; CLIP's logit_scale is not used


def _shown(name: str, limit: int = 40) -> str:
    """``name`` for a message: quoted, a long one cut with its length."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r}... ({len(name)} characters)"


class InCTRL(nn.Module):
    """The InCTRL model: a frozen CLIP backbone, the adapter psi and the heads eta and phi."""

    def __init__(self, config: InCTRLConfig | None = None, backbone: Backbone | None = None):
        super().__init__()
        self.config = config or InCTRLConfig()
        self.backbone = backbone or Backbone(self.config.backbone_spec)
        dim = self.backbone.embed_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.head_seed)
            self.adapter = Adapter(dim)                                # psi
            self.image_head = ScoreHead(feature_width(self.config.image_feature, dim))  # eta (diff_head_ref)
            self.holistic_head = ScoreHead(self.backbone.n_patches)    # phi (official diff_head)
        self._text_cache: dict[str, torch.Tensor] = {}
        self.eval()

    # ------------------------------------------------------------------ inputs
    @property
    def device(self) -> torch.device:
        return self.backbone.device

    @property
    def transform(self):
        return self.backbone.transform

    def to(self, *args, **kwargs) -> InCTRL:
        self.clear_text_cache()
        return super().to(*args, **kwargs)

    def prepare(self, images) -> torch.Tensor:
        """Any images -> [B, 3, S, S] preprocessed pixels on the CPU
        (:func:`inctrl.inputs.to_pixels` with ``model.transform``)."""
        return to_pixels(images, self.transform)

    # ------------------------------------------------------------------ encoders
    @torch.no_grad()
    def encode(self, images, batch_size: int = 32, progress: bool = False,
               amp: bool = False) -> ImageFeatures:
        """Backbone features of any images, computed in batches (no gradient).

        Args:
            images: anything :meth:`prepare` takes.
            batch_size: images per backbone forward; the features do not depend on it.
            progress: show a progress bar over the batches.
            amp: mixed precision (:func:`inctrl.device.autocast`).

        Returns:
            ImageFeatures: ``embedding`` [B, E] (fp32) and ``tokens`` [L, B, N, D].
        """
        if not isinstance(images, torch.Tensor):
            images = as_image_list(images)
        n = len(images)
        if n == 0:
            raise ValueError("no images were given")
        parts = []
        steps = range(0, n, batch_size)
        for start in tqdm(steps, desc="encoding images", disable=not progress, leave=False):
            parts.append(self._encode_batch(images[start:start + batch_size], amp))
        return ImageFeatures.cat(parts)

    def _encode_batch(self, images, amp: bool) -> ImageFeatures:
        """One backbone forward for one batch of any images (the caller disables gradients)."""
        pixels = self.prepare(images).to(self.device, non_blocking=True)
        with autocast(self.device, amp):
            feats = self.backbone.encode_images(pixels)
        return ImageFeatures(feats.embedding.float(), feats.tokens)

    @torch.no_grad()
    def text_features(self, name: str) -> torch.Tensor:
        """The text prior's two states for a category, computed once per name and cached.

        Args:
            name: the category; ``"metal_nut"`` reads as "metal nut" in the prompts.

        Returns:
            [2, E] unit vectors [t_n, t_a]: the mean embedding of the normal and of the
            anomalous prompt ensemble (:func:`inctrl.prompts.prompt_ensemble`).
        """
        key = object_name(name)
        if key not in self._text_cache:
            self.check_text_fits(name)
            normal, anomalous = prompt_ensemble(key)
            states = []
            for sentences in (normal, anomalous):
                emb = F.normalize(self.backbone.encode_text(sentences).float(), dim=-1)
                states.append(F.normalize(emb.mean(dim=0), dim=-1))
            self._text_cache[key] = torch.stack(states)
        return self._text_cache[key]

    def check_text_fits(self, name: str) -> None:
        """Refuse a name whose prompts the text encoder would cut short.

        The encoder reads a fixed number of tokens (its context length); a longer sentence
        is silently truncated, so the anomalous prompts of a long name would read like the
        normal ones.

        Args:
            name: the category / object name (as :meth:`text_features` takes it).

        Raises:
            ValueError: the longest prompt of ``name`` has more tokens than fit.
        """
        check_name(name)
        tokenizer = self.backbone.tokenizer
        fit = int(getattr(tokenizer, "context_length", None) or self.backbone.clip.context_length)
        if not hasattr(tokenizer, "encode"):  # a tokenizer that cannot count: a full row was cut
            rows = tokenizer(sum(prompt_ensemble(name), []))
            if bool((rows[:, -1] != 0).any()):
                raise ValueError(f"the name {_shown(name)} is too long: its prompts fill all {fit} tokens "
                                 "the text encoder reads and are cut short; give a shorter name")
            return
        tokens = max(len(tokenizer.encode(s)) for s in sum(prompt_ensemble(name), [])) + 2  # start, end
        if tokens > fit:
            raise ValueError(f"the name {_shown(name)} is too long: its longest prompt has {tokens} tokens "
                             f"and the text encoder reads {fit} (the rest would be cut, silently); give a "
                             "shorter name")

    def clear_text_cache(self) -> None:
        """Forget the cached text embeddings: the next ``text_features`` call re-encodes its
        242 sentences (as the official code does for every query; the benchmarks use this
        to time that loop)."""
        self._text_cache.clear()

    # ------------------------------------------------------------------ prompt bank
    def prompt_bank(self, images, name: str, batch_size: int = 32, amp: bool = False) -> PromptBank:
        """Encode the K normal prompt images of one category once, for any number of queries.

        Args:
            images: the K normal images (anything :meth:`prepare` takes); the same file
                twice is refused.
            name: the category; it drives the text prior (``"metal_nut"`` -> "metal nut").
            batch_size: images per backbone forward.
            amp: mixed precision (:func:`inctrl.device.autocast`).

        Returns:
            PromptBank: tokens [L, K*N, D], embeddings [K, E], prototype [E], text [2, E].

        Raises:
            ValueError: no image, a duplicate image or an empty name.
        """
        self.check_text_fits(name)  # before any image is encoded
        items = images if isinstance(images, torch.Tensor) else as_image_list(images)
        if len(items) == 0:
            raise ValueError("a prompt bank needs at least one normal image (K >= 1), got none")
        refuse_duplicates(items)
        sources = [] if isinstance(items, torch.Tensor) else [
            str(i) for i in items if isinstance(i, (str, Path))]
        feats = self.encode(items, batch_size=batch_size, amp=amp)
        return self.prompt_bank_from_features(feats, name, sources)

    @torch.no_grad()
    def prompt_bank_from_features(self, feats: ImageFeatures, name: str,
                                  sources: Iterable[str] = ()) -> PromptBank:
        """A prompt bank from already computed backbone features of the K prompts.

        Args:
            feats: the prompts' features, ``embedding`` [K, E] and ``tokens`` [L, K, N, D].
            name: the category (drives the text prior).
            sources: where the prompts came from (kept in the bank).

        Returns:
            The PromptBank (tokens [L, K*N, D], prototype [E], text [2, E]).
        """
        check_name(name)
        if len(feats) == 0:
            raise ValueError("a prompt bank needs at least one normal image (K >= 1), got none")
        feats = feats.to(self.device)
        n_layers, k, n, d = feats.tokens.shape
        tokens = F.normalize(feats.tokens, dim=-1).reshape(n_layers, k * n, d)
        with self._heads_in_eval_mode():
            prototype = self.prototype(feats.embedding.float())
        return PromptBank(object_name(name), tokens, feats.embedding.float(), prototype,
                          self.text_features(name), list(sources))

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score(self, images, bank: PromptBank, batch_size: int = 32, progress: bool = False,
              amp: bool = False) -> InCTRLOutput:
        """Score query images against a prompt bank (no gradient).

        Per batch: one image-encoder forward (with hooks on the tapped blocks), then batched
        residuals on the device; nothing is copied back to the host until the caller asks.
        Any batch size gives the scores of the queries scored one at a time, up to float32
        rounding (a few 1e-8).

        Args:
            images: the B queries (anything :meth:`prepare` takes).
            bank: the K normal prompts of one category (:meth:`prompt_bank`).
            batch_size: queries per backbone forward.
            progress: show a progress bar over the batches.
            amp: bf16 autocast on CUDA and the CPU, fp16 on Apple MPS.

        Returns:
            InCTRLOutput: ``score`` [B] (Eq. 8) and every intermediate score and map.
        """
        check_bank(bank)
        items = images if isinstance(images, torch.Tensor) else as_image_list(images)
        if len(items) == 0:
            raise ValueError("no query images were given")
        parts = []
        steps = range(0, len(items), batch_size)
        for start in tqdm(steps, desc="scoring", disable=not progress, leave=False):
            feats = self._encode_batch(items[start:start + batch_size], amp)
            parts.append(self.score_features(feats, bank, amp=amp))
        return parts[0] if len(parts) == 1 else InCTRLOutput.cat(parts)

    def forward(self, images, bank: PromptBank, batch_size: int = 32,
                amp: bool = False) -> InCTRLOutput:
        """``model(images, bank)``: score query images against a prompt bank, as :meth:`score`
        (no gradient). Training, where each query has its own prompts, uses
        :meth:`forward_episodes`.

        Args:
            images: the queries: paths, a folder, PIL images, or preprocessed pixels
                [B, 3, S, S] or [3, S, S] (``model.transform``).
            bank: the K normal prompts of one category (:meth:`prompt_bank`).
            batch_size: queries per backbone forward; the scores do not depend on it.
            amp: mixed precision (:func:`inctrl.device.autocast`).

        Returns:
            InCTRLOutput: ``score`` s(x) [B] (Eq. 8) and every intermediate score and map.
        """
        return self.score(images, bank, batch_size=batch_size, amp=amp)

    @torch.no_grad()
    def score_features(self, feats: ImageFeatures, bank: PromptBank,
                       amp: bool = False) -> InCTRLOutput:
        """Score queries from their backbone features (heads in eval mode, no gradient).

        Args:
            feats: the queries' features, ``embedding`` [B, E] and ``tokens`` [L, B, N, D].
            bank: the K normal prompts of one category.
            amp: mixed precision for Eq. 1 (the heads always run in fp32).

        Returns:
            InCTRLOutput for the B queries.
        """
        check_bank(bank)
        with self._heads_in_eval_mode():
            feats = feats.to(self.device)
            with autocast(self.device, amp):
                # Eq. 1: raw query tokens; nearest_prompt_distance divides by their norms.
                layer_maps = nearest_prompt_distance(
                    feats.tokens.to(bank.tokens.dtype), bank.tokens.unsqueeze(1),
                    max_elements=self.backbone.similarity_budget(len(feats))).transpose(0, 1)
                return self._fuse(feats.embedding, layer_maps, bank.prototype.unsqueeze(0),
                                  bank.text.unsqueeze(0))

    @contextlib.contextmanager
    def _heads_in_eval_mode(self):
        """Inference inside training: the trainable parts (BatchNorm) in eval mode for the
        block, then back. Only they switch: the backbone is always in eval mode, and walking
        its ~100 modules with ``self.eval()`` cost milliseconds per scored batch."""
        heads = [m for m in (self.adapter, self.image_head, self.holistic_head) if m.training]
        for module in heads:
            module.eval()
        try:
            yield
        finally:
            for module in heads:
                module.train()

    def forward_episodes(self, query_embedding: torch.Tensor, prompt_embeddings: torch.Tensor,
                         text: torch.Tensor, *, query_tokens: torch.Tensor | None = None,
                         prompt_tokens: torch.Tensor | None = None,
                         layer_maps: torch.Tensor | None = None) -> InCTRLOutput:
        """Training forward: each query has its own K prompts and category text.

        Give either the tokens or the patch distances they give (e.g. precomputed by the
        pair table of :mod:`inctrl.train`: the backbone is frozen). Gradients flow into the
        adapter and both heads.

        Args:
            query_embedding: [B, E] g(x).
            prompt_embeddings: [B, K, E] g(p_k) of each query's prompts.
            text: [B, 2, E] t_n and t_a of each query's category.
            query_tokens: [L, B, N, D] raw query patch tokens.
            prompt_tokens: [L, B, K, N, D] raw prompt patch tokens.
            layer_maps: [B, L, N] M^l (Eq. 1), instead of the tokens.

        Returns:
            InCTRLOutput for the B queries.
        """
        if layer_maps is None:
            if query_tokens is None or prompt_tokens is None:
                raise ValueError("give either layer_maps or both query_tokens and prompt_tokens")
            n_layers, batch, k, n, d = prompt_tokens.shape
            prompts = F.normalize(prompt_tokens, dim=-1).reshape(n_layers, batch, k * n, d)
            layer_maps = nearest_prompt_distance(query_tokens.to(prompts.dtype), prompts).transpose(0, 1)
        return self._fuse(query_embedding, layer_maps, self.prototype(prompt_embeddings), text)

    def prototype(self, prompt_embeddings: torch.Tensor) -> torch.Tensor:
        """Eq. 3: the prototype F_P = mean_k psi(g(p_k)) of K prompts (gradients flow into psi).

        Args:
            prompt_embeddings: [..., K, E] g(p_k): [K, E] for a bank, [B, K, E] in training.

        Returns:
            [..., E] F_P.
        """
        return self.adapter(prompt_embeddings).mean(dim=-2)

    def _fuse(self, embedding: torch.Tensor, layer_maps: torch.Tensor, prototype: torch.Tensor,
              text: torch.Tensor) -> InCTRLOutput:
        """Eq. 2 and 4-8 for B queries, from their patch distances and the prompt side.

        Args:
            embedding: [B, E] g(x).
            layer_maps: [B, L, N] M^l (Eq. 1).
            prototype: [1 or B, E] F_P (Eq. 3).
            text: [1 or B, 2, E] t_n and t_a.

        Returns:
            InCTRLOutput for the B queries.
        """
        h, w = self.backbone.grid
        batch = embedding.shape[0]
        # Eq. 2: the patch map is the mean over layers, s_p its largest cell.
        patch_map = layer_maps.mean(dim=1)                                                 # M [B, N]
        patch_score = patch_map.amax(dim=1)                                                # s_p [B]
        # The heads are tiny: keep them in fp32 for stable scores under autocast.
        with torch.autocast(embedding.device.type, enabled=False):
            g = embedding.float()
            # Eq. 4-5: the residual of the adapted query to the prototype, then eta.
            residual = image_feature(self.config.image_feature, self.adapter(g), prototype.float())  # F_x
            image_score = self.image_head(residual)                                        # s_i [B]
            # Eq. 6: the text prior at the fixed temperature 100.
            g_hat = F.normalize(g, dim=-1)
            logits = TEXT_TEMPERATURE * torch.einsum("be,bse->bs", g_hat,
                                                      text.float().expand(batch, -1, -1))
            text_score = logits.softmax(dim=-1)[:, 1]                                      # s_a [B]
            # Eq. 7: the holistic map; Eq. 8: the final score (official alpha = 1, halved).
            # A model trained on fewer signals leaves the others out (inctrl.ablation).
            parts = self.config.components
            holistic_map = patch_map if "P" in parts else torch.zeros_like(patch_map)
            if "I" in parts:
                holistic_map = holistic_map + image_score[:, None]
            if "T" in parts:
                holistic_map = holistic_map + text_score[:, None]                          # M+ [B, N]
            holistic_score = self.holistic_head(holistic_map)
            score = (holistic_score + patch_score) / 2 if "P" in parts else holistic_score
        return InCTRLOutput(
            score=score, image_score=image_score, text_score=text_score, patch_score=patch_score,
            holistic_score=holistic_score, patch_map=patch_map.reshape(batch, h, w),
            holistic_map=holistic_map.reshape(batch, h, w),
            layer_maps=layer_maps.reshape(batch, -1, h, w), image_size=self.backbone.image_size)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights that InCTRL trains: adapter, image head and holistic head."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters of the adapter and both heads (what the optimiser updates)."""
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]
