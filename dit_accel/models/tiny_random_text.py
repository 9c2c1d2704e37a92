"""Offline text parts for the tiny pipelines: a word-level tokenizer and small random text encoders."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    LlamaConfig,
    LlamaModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5EncoderModel,
)

SPECIAL = ["<pad>", "</s>", "<unk>", "<s>"]
WORDS = (
    "a an the on in of and with at to cat dog bird fish horse car boat tree flower city street forest sea "
    "beach mountain sky sun snow rain red green blue yellow white black big small runs jumps walks flies "
    "swims dances moving slowly fast grass water video photo painting blurry bad quality"
).split()
PAD, EOS, UNK, BOS = range(4)


def word_tokenizer(model_max_length: int = 77) -> PreTrainedTokenizerFast:
    """Whitespace word-level tokenizer over `WORDS` (unknown words -> <unk>); pad 0, eos 1, unk 2, bos 3."""
    vocab = Tokenizer(WordLevel({word: i for i, word in enumerate(SPECIAL + WORDS)}, unk_token="<unk>"))
    vocab.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=vocab,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        model_max_length=model_max_length,
    )


def vocab_size() -> int:
    return len(SPECIAL) + len(WORDS)


def t5(dim: int, seed: int = 0) -> T5EncoderModel:
    """A 1-layer T5 encoder with `dim`-wide outputs."""
    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab_size(), d_model=dim, d_kv=8, d_ff=2 * dim, num_layers=1, num_heads=2)
    return T5EncoderModel(config).eval()


def _common_config(dim: int) -> dict[str, int]:
    """Config fields the CLIP and Llama encoders share: `dim` wide, 2 heads, `word_tokenizer`'s ids."""
    return {
        "vocab_size": vocab_size(),
        "hidden_size": dim,
        "intermediate_size": 2 * dim,
        "num_attention_heads": 2,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
    }


def clip(dim: int, seed: int = 0) -> CLIPTextModel:
    """A 1-layer CLIP text encoder whose pooled output is `dim` wide."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        num_hidden_layers=1, max_position_embeddings=77, projection_dim=dim, **_common_config(dim)
    )
    return CLIPTextModel(config).eval()


def llama(dim: int, seed: int = 0) -> LlamaModel:
    """A 3-layer Llama (HunyuanVideo reads the hidden state 2 layers below the top)."""
    torch.manual_seed(seed)
    config = LlamaConfig(num_hidden_layers=3, num_key_value_heads=2, **_common_config(dim))
    return LlamaModel(config).eval()
