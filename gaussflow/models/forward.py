"""NumPy forward pass of a BERT encoder (the real network the closures are confronted with).

Everything acts on token matrices H of shape (n, d) (one row per token) in float64:

* embeddings  H₀ = LN_emb(E_word[ids] + E_pos[0..n−1] + E_type[types])
* attention   Attn(x_i) = Σ_h W_h (V_h Σ_j p_ij^h y_j + b_{v,h}) + b_o,
              p_ij^h = softmax_j β⟨Q_h x_i + q_h, K_h y_j + k_h⟩
* layer       H₁ = LN₁(H + Attn(H)),  H' = LN₂(H₁ + W₂ GELU(W₁ H₁ + b₁) + b₂)
* GELU        GELU(z) = z Φ(z) = ½ z (1 + erf(z/√2))   (the exact form BERT's "gelu" uses)
* LayerNorm   LN(x) = γ ⊙ (x − x̄)/√(var x + ε) + b,  var the biased variance over the d features
* sentence embedding (sentence-transformers pooling of all-MiniLM-L6-v2): mean of the last hidden
  states over the tokens, divided by its Euclidean norm.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .bert import BertLayer, BertModel, LayerNormParams


def layer_norm(X: np.ndarray, p: LayerNormParams) -> np.ndarray:
    """LN over the last axis: γ ⊙ (x − mean)/√(var + ε) + b. X (..., d) → (..., d)."""
    m = X.mean(axis=-1, keepdims=True)
    v = ((X - m) ** 2).mean(axis=-1, keepdims=True)
    return (X - m) / np.sqrt(v + p.eps) * p.weight + p.bias


def gelu(Z: np.ndarray) -> np.ndarray:
    """GELU(z) = z Φ(z) = ½ z (1 + erf(z/√2)), elementwise (Φ = scipy.special.ndtr, 5x faster than erf)."""
    return Z * ndtr(Z)


def self_attention(layer: BertLayer, X: np.ndarray, Y: np.ndarray | None = None, *,
                   heads: list[int] | None = None, with_bias: bool = True) -> np.ndarray:
    """The trained self-attention sublayer Attn (without the residual) for queries X attending to Y.

    Parameters
    ----------
    X : ndarray (n, d)    query tokens
    Y : ndarray (m, d)    attended tokens (default X: self-attention of one sequence)
    heads : list of int, optional   only these heads (their W_h-columns of the output projection)
    with_bias : bool     add W_h b_{v,h} (+ b_o when all heads)

    Returns
    -------
    ndarray (n, d)
    """
    Y = X if Y is None else Y
    q_all = X @ layer.Wq.T + layer.bq
    k_all = Y @ layer.Wk.T + layer.bk
    v_all = Y @ layer.Wv.T + (layer.bv if with_bias else 0.0)
    ctx = np.zeros((X.shape[0], layer.d))
    sl = layer.head_slices()
    for h in (range(layer.heads) if heads is None else heads):
        s = sl[h]
        logits = layer.beta * (q_all[:, s] @ k_all[:, s].T)
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        ctx[:, s] = w @ v_all[:, s]
    out = ctx @ layer.Wo.T  # the columns of heads not chosen multiply zeros
    if with_bias and heads is None:
        out += layer.bo
    return out


def feed_forward(layer: BertLayer, X: np.ndarray) -> np.ndarray:
    """W₂ GELU(W₁ x + b₁) + b₂ on rows of X (n, d) → (n, d)."""
    return gelu(X @ layer.W1.T + layer.b1) @ layer.W2.T + layer.b2


@dataclass(frozen=True)
class LayerTrace:
    """Intermediate token matrices of one layer (each (n, d)): input, after the attention residual
    (before LN₁), after LN₁, after the feed-forward residual (before LN₂), output."""

    input: np.ndarray
    attn_residual: np.ndarray
    ln1: np.ndarray
    ffn_residual: np.ndarray
    output: np.ndarray


def layer_forward(layer: BertLayer, H: np.ndarray) -> LayerTrace:
    """One post-LN encoder layer on one sequence H (n, d)."""
    a = H + self_attention(layer, H)
    h1 = layer_norm(a, layer.ln1)
    f = h1 + feed_forward(layer, h1)
    return LayerTrace(H, a, h1, f, layer_norm(f, layer.ln2))


def embed(model: BertModel, ids: np.ndarray, token_types: np.ndarray | None = None) -> np.ndarray:
    """H₀ (n, d) for token ids (n,) (positions 0..n−1, token type 0 by default)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"`ids` must be a non-empty 1-D integer array; got shape {ids.shape}, dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() >= model.word.shape[0]:
        raise ValueError(f"`ids` must lie in [0, {model.word.shape[0]}); got range [{ids.min()}, {ids.max()}]")
    if ids.size > model.position.shape[0]:
        raise ValueError(f"`ids` has {ids.size} tokens; the model has {model.position.shape[0]} positions")
    tt = np.zeros_like(ids) if token_types is None else np.asarray(token_types)
    if tt.shape != ids.shape:
        raise ValueError(f"`token_types` must have shape {ids.shape}; got {tt.shape}")
    E = model.word[ids] + model.position[: ids.size] + model.token_type[tt]
    return layer_norm(E, model.ln_emb)


def encode(model: BertModel, ids: np.ndarray, *, traces: bool = False) -> np.ndarray | tuple[np.ndarray, list]:
    """Hidden states of one sequence: (L + 1, n, d), entry 0 the embeddings, entry l the output of layer l.

    With ``traces=True`` also the per-layer :class:`LayerTrace` list.
    """
    H = embed(model, ids)
    states = [H]
    tr = []
    for layer in model.layers:
        t = layer_forward(layer, H)
        tr.append(t)
        H = t.output
        states.append(H)
    S = np.stack(states)
    return (S, tr) if traces else S


def encode_many(model: BertModel, sequences: list[np.ndarray], *, traces: bool = False
                ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, list[LayerTrace]]:
    """Hidden states of many sequences at once, tokens stacked: (L + 1, N, d) with N = Σ n_s, and the
    offsets (S + 1,) of each sequence's rows. Attention acts within each sequence only (as if run one
    at a time); LayerNorm and the feed-forward act on all N rows in one product (the same numbers, faster).
    With ``traces=True`` also the per-layer :class:`LayerTrace` of the stacked rows."""
    if not sequences:
        raise ValueError("`sequences` must hold at least one token-id array")
    H = np.concatenate([embed(model, ids) for ids in sequences])
    off = np.concatenate([[0], np.cumsum([len(ids) for ids in sequences])])
    states = [H]
    tr = []
    for layer in model.layers:
        att = np.concatenate([self_attention(layer, H[a:b]) for a, b in itertools.pairwise(off)])
        a_res = H + att
        h1 = layer_norm(a_res, layer.ln1)
        f = h1 + feed_forward(layer, h1)
        H = layer_norm(f, layer.ln2)
        if traces:
            tr.append(LayerTrace(states[-1], a_res, h1, f, H))
        states.append(H)
    S = np.stack(states)
    return (S, off, tr) if traces else (S, off)


def sentence_embedding(last: np.ndarray) -> np.ndarray:
    """Mean pooling of the last hidden states (n, d) then L2 normalization (all-MiniLM-L6-v2)."""
    m = last.mean(axis=0)
    return m / np.linalg.norm(m)


__all__ = ["LayerTrace", "embed", "encode", "encode_many", "feed_forward", "gelu", "layer_forward", "layer_norm",
           "self_attention", "sentence_embedding"]
