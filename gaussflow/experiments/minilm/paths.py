"""The laws pushed through the six trained layers: the network's clouds and the closures.

Per layer l (post-LN BERT, :mod:`gaussflow.models.forward`): x ← LN₂(h + FFN(h)), h = LN₁(x + Attn(x)).

* ``network``: the real token clouds (all corpus tokens, attention within each sentence), Gaussian-fitted;
* ``attention`` (closure i): only the attention sublayers with their residual, x ← x + Attn(x), exact on
  Gaussians (Attn is affine on N(α, Σ), :func:`gaussflow.propagate` with step 1); LayerNorm and FFN dropped;
* ``pure_attention``: x ← Attn(x) (no residual), α ← Γ(α), Σ ← JΣJᵀ, the setting of the rank-collapse
  results for attention without skip connections;
* ``projected`` (closure ii): the attention sublayer exactly, then LN₁, the FFN residual h + FFN(h) and
  LN₂ each replaced by its Gaussian projection N(E F(X), Cov F(X)), X ~ N(α, Σ), estimated from ``n``
  samples (fixed seed). LayerNorm and GELU do not map Gaussians to Gaussians: this is an approximation
  (a moment closure), not an exact closure;
* ``fused`` (closure iii): as closure ii, but LN₁, the FFN residual and LN₂ act exactly on samples of the
  post-attention Gaussian (the LayerNorm'd stream stays the exact pushforward of a Gaussian, an affine image
  of a projected normal), with one Gaussian projection per layer, at the next attention's input;
* ``one_step``: closure ii for one layer, started from the network's own fit at that layer's input
  (the per-layer error without accumulation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...attention import Attention
from ...integrate import propagate
from ...models import BertLayer, BertModel, WordPiece, corpus, encode_many, feed_forward, layer_norm
from ...verify import bures_wasserstein
from .metrics import fit

Law = tuple[np.ndarray, np.ndarray]


@dataclass
class NetworkClouds:
    """Token clouds of the corpus: ``states[l]`` (N, d) the input of layer l (0: embeddings, 6: output),
    ``attn[l]`` / ``ln1[l]`` / ``ffn[l]`` the intermediate clouds of layer l, ``offsets`` per sentence."""

    states: list[np.ndarray]
    attn: list[np.ndarray]
    ln1: list[np.ndarray]
    ffn: list[np.ndarray]
    offsets: np.ndarray
    sentences: list[str] = field(default_factory=list)


def network_clouds(model: BertModel, sentences: list[str] | None = None) -> NetworkClouds:
    """Run the trained encoder on the corpus (default: the shipped one)."""
    sents = corpus() if sentences is None else list(sentences)
    tok = WordPiece(model.vocab_file)
    S, off, tr = encode_many(model, [tok.encode(s) for s in sents], traces=True)
    return NetworkClouds(list(S), [t.attn_residual for t in tr], [t.ln1 for t in tr], [t.ffn_residual for t in tr],
                         off, sents)


def attention_step(att: Attention, law: Law) -> Law:
    """x ← x + Attn(x) on N(α, Σ), exact (the closure's Γ(α) and J, through :func:`gaussflow.propagate`)."""
    tr = propagate([att], law, None, 1.0, blowup_threshold=1e300)
    if len(tr.t) < 2:  # the layer left the finite range: no law
        return np.full_like(law[0], np.nan), np.full_like(law[1], np.nan)
    return tr.mean[-1], tr.cov[-1]


def pure_attention_step(att: Attention, law: Law) -> Law:
    """x ← Attn(x) on N(α, Σ): α ← Γ(α), Σ ← JΣJᵀ (Γ, J from the closure's generated code)."""
    a, S = law
    J = att.jacobian(a, S)
    out = J @ S @ J.T
    return att.velocity(a, a, S), 0.5 * (out + out.T)


def _sample(law: Law, n: int, rng: np.random.Generator) -> np.ndarray:
    a, S = law
    w, U = np.linalg.eigh(0.5 * (S + S.T))
    return a + rng.standard_normal((n, a.shape[0])) @ (U * np.sqrt(np.clip(w, 0.0, None))).T


def projected_layer(layer: BertLayer, att: Attention, law: Law, n: int, rng: np.random.Generator) -> dict[str, Law]:
    """One layer of closure ii: exact attention step, then Gaussian projections of LN₁, h + FFN(h), LN₂.

    Returns the laws after each stage: ``attn``, ``ln1``, ``ffn``, ``out``."""
    a1 = attention_step(att, law)
    l1 = fit(layer_norm(_sample(a1, n, rng), layer.ln1))
    X = _sample(l1, n, rng)
    f = fit(X + feed_forward(layer, X))
    out = fit(layer_norm(_sample(f, n, rng), layer.ln2))
    return {"attn": a1, "ln1": l1, "ffn": f, "out": out}


def fused_layer(layer: BertLayer, att: Attention, law: Law, n: int, rng: np.random.Generator) -> Law:
    """One layer of closure iii: exact attention step, then LN₁, the FFN residual and LN₂ applied exactly to
    samples of that Gaussian (the LayerNorm'd stream kept as the exact pushforward — an affine image of a
    projected normal — instead of being re-Gaussianized after each stage); one Gaussian projection at the
    layer output, where the next attention closure needs a Gaussian."""
    X = layer_norm(_sample(attention_step(att, law), n, rng), layer.ln1)
    return fit(layer_norm(X + feed_forward(layer, X), layer.ln2))


@dataclass
class Paths:
    """Laws per layer boundary l = 0..L for every path (``network``: Gaussian fits of the real clouds)."""

    network: list[Law]
    attention: list[Law]
    pure_attention: list[Law]
    projected: list[Law]
    one_step: list[Law]
    projected_stages: list[dict[str, Law]]
    no_bias_mean_shift: list[float]
    layers: list[Attention] = field(default_factory=list)
    fused: list[Law] = field(default_factory=list)


def run_paths(model: BertModel, clouds: NetworkClouds, n: int, seed: int = 0,
              plain: list[Attention] | None = None) -> Paths:
    """All paths from N(α₀, Σ₀) = the fit of the layer-0 input tokens.

    ``plain`` (optional): the bias-free attention layers (the issue's first mapping); their mean after each
    attention-only layer is compared with the biased one (the covariances agree: J does not involve α).
    """
    # one stream per path, so that adding or dropping a path does not change another's samples
    rng_ii, rng_one, rng_iii = (np.random.default_rng(q) for q in np.random.SeedSequence(seed).spawn(3))
    atts = [layer.attention() for layer in model.layers]
    net = [fit(X) for X in clouds.states]
    law0 = net[0]
    attn, pure, proj, stages, one, fused = [law0], [law0], [law0], [], [law0], [law0]
    shift = [0.0]
    plain_law = law0
    for layer, att in zip(model.layers, atts, strict=True):
        attn.append(attention_step(att, attn[-1]))
        pure.append(pure_attention_step(att, pure[-1]))
        st = projected_layer(layer, att, proj[-1], n, rng_ii)
        stages.append(st)
        proj.append(st["out"])
        one.append(projected_layer(layer, att, net[layer.index], n, rng_one)["out"])
        fused.append(fused_layer(layer, att, fused[-1], n, rng_iii))
        if plain is not None:
            plain_law = attention_step(plain[layer.index], plain_law)
            shift.append(float(np.linalg.norm(plain_law[0] - attn[-1][0])))
    return Paths(net, attn, pure, proj, one, stages, shift if plain is not None else [], atts, fused)


def attention_check(model: BertModel, clouds: NetworkClouds, atts: list[Attention] | None = None, tokens: int = 300,
                    seed: int = 0) -> list[dict[str, float]]:
    """Where the attention closure's assumptions fail, per layer, on ``tokens`` corpus tokens x of the layer input H:

    the update of the real network u_sent(x) (attention within x's own sentence, ~14 tokens), the pooled
    update u_pool(x) = Attn(x) attending to *all* corpus tokens (the mean-field over the empirical law) and
    the closure's Γ(x) on the Gaussian fit of H. Returns the relative differences
    ``sentence_vs_pooled`` = ‖u_sent − u_pool‖/‖u_sent‖ (finite context vs mean field),
    ``pooled_vs_closure`` = ‖u_pool − Γ‖/‖u_pool‖ (empirical law vs its Gaussian fit) and
    ``sentence_vs_closure`` = ‖u_sent − Γ‖/‖u_sent‖ (Frobenius norms over those tokens).
    """
    from ...models import self_attention

    rng = np.random.default_rng(seed)
    out = []
    for layer in model.layers:
        H = clouds.states[layer.index]
        idx = rng.choice(len(H), size=min(tokens, len(H)), replace=False)
        X = H[idx]
        att = atts[layer.index] if atts is not None else layer.attention()
        u_sent = clouds.attn[layer.index][idx] - X
        u_pool = self_attention(layer, X, H)
        g = att.velocity(X, *fit(H))
        nrm = np.linalg.norm
        out.append({"sentence_vs_pooled": float(nrm(u_sent - u_pool) / nrm(u_sent)),
                    "pooled_vs_closure": float(nrm(u_pool - g) / nrm(u_pool)),
                    "sentence_vs_closure": float(nrm(u_sent - g) / nrm(u_sent))})
    return out


def ffn_check(model: BertModel, clouds: NetworkClouds, n: int, seed: int = 0) -> list[dict[str, float]]:
    """The feed-forward residual h + FFN(h) on the network's LN₁ cloud vs on n Gaussian samples of that cloud's
    own fit: ``trace_ffn_network`` / ``trace_ffn_gaussian`` = tr Cov FFN(h), and ``bw`` = W₂ between the Gaussian
    fits of h + FFN(h) in the two cases (the error of the Gaussian projection at its input's exact moments)."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in model.layers:
        X = clouds.ln1[layer.index]
        G = _sample(fit(X), n, rng)
        fx, fg = feed_forward(layer, X), feed_forward(layer, G)
        out.append({"trace_ffn_network": float(np.trace(fit(fx)[1])), "trace_ffn_gaussian": float(np.trace(fit(fg)[1])),
                    "bw": bures_wasserstein(*fit(X + fx), *fit(G + fg))})
    return out


def gaussian_ess(model: BertModel, laws: list[Law], n: int = 2000, queries: int = 20, seed: int = 0) -> np.ndarray:
    """Effective sample size fraction (Σw)²/(n Σw²) of each head's softmax weights when a query drawn from
    N(α_l, Σ_l) attends to n tokens drawn from it (mean over ``queries`` queries), shape (L, H): how many
    Gaussian tokens the mean field of a head needs (1/fraction per effective token)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(model.layers), model.heads))
    for layer in model.layers:
        Y = _sample(laws[layer.index], n, rng)
        X = Y[:queries]
        q = X @ layer.Wq.T + layer.bq
        k = Y @ layer.Wk.T + layer.bk
        for h, s in enumerate(layer.head_slices()):
            lg = layer.beta * q[:, s] @ k[:, s].T
            w = np.exp(lg - lg.max(axis=1, keepdims=True))
            out[layer.index, h] = float(np.mean(w.sum(1) ** 2 / (n * (w**2).sum(1))))
    return out


def head_spectra(model: BertModel, laws: list[Law]) -> dict[str, np.ndarray]:
    """Per layer l and head h, on the network's fit N(α_l, Σ_l) at the layer's input: the Jacobian
    J_h = C_h Σ_l A_h of the head alone (from the one-head closure), its eigenvalues and

    * ``rate`` ρ_h = 2 tr(J_h Σ_l) / tr Σ_l (d/dt log tr Σ if the head acted alone: > 0 expands Σ),
    * ``abscissa`` max Re λ(J_h) and ``floor`` min Re λ(J_h) over its k = d_head nonzero eigenvalues
      (J_h has rank ≤ k; the other d − k eigenvalues are 0),
    * ``eig`` those k eigenvalues (complex, sorted by real part).
    """
    L, H = len(model.layers), model.heads
    k = model.layers[0].d_head
    rate = np.zeros((L, H))
    absc = np.zeros((L, H))
    floor = np.zeros((L, H))
    eig = np.zeros((L, H, k), dtype=complex)
    for layer in model.layers:
        a, S = laws[layer.index]
        trS = float(np.trace(S))
        for h, s in enumerate(layer.head_slices()):
            J = layer.attention([h]).jacobian(a, S)
            # range J_h ⊆ range W_h (k columns): its nonzero eigenvalues are those of BᵀJ_hB, B = orth(W_h)
            B = np.linalg.qr(layer.Wo[:, s])[0]
            ev = np.linalg.eigvals(B.T @ J @ B)
            eig[layer.index, h] = ev[np.argsort(ev.real)]
            rate[layer.index, h] = 2.0 * float(np.trace(J @ S)) / trS
            absc[layer.index, h] = float(ev.real.max())
            floor[layer.index, h] = float(ev.real.min())
    return {"rate": rate, "abscissa": absc, "floor": floor, "eig": eig}


__all__ = [
    "Law",
    "NetworkClouds",
    "Paths",
    "attention_check",
    "attention_step",
    "ffn_check",
    "fused_layer",
    "gaussian_ess",
    "head_spectra",
    "network_clouds",
    "projected_layer",
    "pure_attention_step",
    "run_paths",
]
