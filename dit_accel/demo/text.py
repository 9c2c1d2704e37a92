"""DemoTextEncoder: a word-embedding text encoder for the demo model's small caption vocabulary."""

from __future__ import annotations

import re

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

PAD, UNK = "<pad>", "<unk>"


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


class DemoTextEncoder(ModelMixin, ConfigMixin):
    """Prompt -> `encoder_hidden_states` [B, max_length, dim]: one learned vector per word plus one per
    position. Unknown words become <unk>; the unconditional (CFG) context is all <pad>."""

    @register_to_config
    def __init__(self, vocab: list[str], max_length: int = 12, dim: int = 64):
        super().__init__()
        self.words = [PAD, UNK, *vocab]
        self.index = {word: i for i, word in enumerate(self.words)}
        self.token_embedding = torch.nn.Embedding(len(self.words), dim)
        self.position_embedding = torch.nn.Parameter(torch.randn(max_length, dim) * 0.02)

    def unknown_words(self, prompts: list[str]) -> list[str]:
        """The words of `prompts` outside the vocabulary (they all read as <unk>), sorted."""
        return sorted({word for prompt in prompts for word in _words(prompt)} - self.index.keys())

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """Token ids [B, max_length], padded with <pad> and cut at max_length."""
        length = self.config.max_length
        ids = torch.zeros(len(prompts), length, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            tokens = [self.index.get(word, self.index[UNK]) for word in _words(prompt)][:length]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return ids

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids [B, L] -> [B, L, dim]."""
        return self.token_embedding(input_ids) + self.position_embedding[: input_ids.shape[1]]

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """[B, max_length, dim] for `prompts`; "" gives the unconditional context."""
        return self(self.tokenize(prompts).to(self.device))
