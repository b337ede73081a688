"""Markdown report of the MiniLM confrontation (every number read from the summary it is given)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _f(v: Any, fmt: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    return format(v, fmt)


def report(s: dict[str, Any]) -> str:
    rows = s["layers"]
    L = len(rows) - 1
    c = s["corpus"]
    lines = [
        "# all-MiniLM-L6-v2 vs the Gaussian closures",
        "",
        f"Model: {s['model']['name']} (d = {s['model']['d']}, {s['model']['heads']} heads × {L} layers). "
        f"Corpus: {c['sentences']} sentences, {c['tokens']} tokens ({c['tokens_per_sentence']:.1f} per sentence; "
        "attention acts within each sentence). All paths start from N(α₀, Σ₀), the Gaussian fit of the layer-0 "
        f"(embedding) tokens. Gaussian projections use {s['samples']} Monte Carlo samples (seed {s['seed']}).",
        "",
        "Paths: **network** = Gaussian fit of the real token cloud after layer l; **closure i** = attention "
        "sublayers with residual only, exact on Gaussians; **pure attention** = no residual; **closure ii** = "
        "exact attention + Gaussian projections of LayerNorm and of the GELU feed-forward (these two maps do "
        "not preserve Gaussians: closure ii is an approximation); **closure iii** = as ii, but the LayerNorm'd "
        "stream is kept exactly (LN₁, FFN, LN₂ applied to samples of the post-attention Gaussian: an affine image "
        "of a projected normal) and Gaussian-projected once per layer, where the next attention needs a Gaussian; "
        "**one step** = closure ii for one layer, "
        "from the network's fit at that layer's input; **identity** = N(α₀, Σ₀) left unchanged (baseline).",
        "",
        "## Effective rank exp H(λ / tr Σ)",
        "",
        "| layer | network | closure ii | closure iii | one step | closure i | pure attention |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['layer']} | {_f(r['network']['erank'], '.1f')} | {_f(r['projected']['erank'], '.1f')} | "
                     f"{_f(r['fused']['erank'], '.1f')} | "
                     f"{_f(r['one_step']['erank'], '.1f')} | {_f(r['attention']['erank'], '.1f')} | "
                     f"{_f(r['pure_attention']['erank'], '.1f')} |")
    lines += ["", "## Distance to the network: W₂ / √(|α_net|² + tr Σ_net) (top-5 eigenvector overlap)", "",
              "Baselines: *identity* keeps N(α₀, Σ₀) (for the propagated paths), *hold* keeps the network's fit of "
              "the layer's input (for the one-step column).", "",
              "| layer | closure ii | closure iii | closure i | identity | one step | hold |",
              "|---|---|---|---|---|---|---|"]
    for r in rows[1:]:
        cell = [f"{_f(r[k]['rel_bw'])} ({_f(r[k]['alignment_top5'], '.2f')})"
                for k in ("projected", "fused", "attention", "identity", "one_step", "hold")]
        lines.append(f"| {r['layer']} | " + " | ".join(cell) + " |")
    lines += ["", "## The network's cloud: trace, anisotropy, normality (Mardia on the top-10 principal axes)", "",
              "| layer | tr Σ | λ_max / tr Σ | ‖α‖²/(‖α‖²+tr Σ) | kurtosis z | skewness n b₁/6 (χ²₂₂₀) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        n = r["network"]
        lines.append(f"| {r['layer']} | {_f(n['trace'], '.1f')} | {_f(n['anisotropy'])} | "
                     f"{_f(n['mean_dominance'])} | {_f(n['normality']['kurtosis_z'], '.1f')} | "
                     f"{_f(n['normality']['skewness_stat'], '.0f')} |")
    lines += ["", "## Closure ii stage by stage (W₂ to the network's fit of the same intermediate cloud)", "",
              "| layer | after attention + residual | after LN₁ | after FFN residual |", "|---|---|---|---|"]
    for i, st in enumerate(s["projected_stage_bw"]):
        lines.append(f"| {i + 1} | {_f(st['attn'])} | {_f(st['ln1'])} | {_f(st['ffn'])} |")
    lines += ["", "## Why the attention closure misses the network: finite context and non-Gaussian laws", "",
              "Relative differences of the attention update Attn(x) on sampled corpus tokens (300; 100 with --quick) "
              "per layer: the network "
              "(attention within the token's own sentence) vs the same weights attending to all corpus tokens "
              "(mean field over the empirical law), and that vs the closure's Γ on the Gaussian fit.", "",
              "| layer | sentence vs pooled | pooled vs closure | sentence vs closure |", "|---|---|---|---|"]
    for i, ch in enumerate(s.get("attention_check", [])):
        lines.append(f"| {i + 1} | {_f(ch['sentence_vs_pooled'], '.2f')} | {_f(ch['pooled_vs_closure'], '.2f')} | "
                     f"{_f(ch['sentence_vs_closure'], '.2f')} |")
    ess = np.array(s["gaussian_ess"]["fraction"])
    lines += ["", f"Effective sample size of each head's softmax weights over {s['gaussian_ess']['samples']} tokens "
              "drawn from the network's Gaussian fit (fraction of the samples; min over heads, head): "
              + "; ".join(f"layer {li + 1}: {_f(ess[li].min(), '.3f')} (head {int(np.argmin(ess[li])) + 1})"
                          for li in range(ess.shape[0])) + ".",
              "", "## The feed-forward on the network's LN₁ cloud vs on Gaussian samples of its fit", "",
              "| layer | tr Cov FFN(h), network | tr Cov FFN(h), Gaussian input | W₂ of h + FFN(h) fits |",
              "|---|---|---|---|"]
    for i, f in enumerate(s.get("ffn_check", [])):
        lines.append(f"| {i + 1} | {_f(f['trace_ffn_network'], '.4g')} | {_f(f['trace_ffn_gaussian'], '.4g')} | "
                     f"{_f(f['bw'])} |")
    rate = np.array(s["heads"]["rate"])
    absc = np.array(s["heads"]["abscissa"])
    lines += ["", "## Heads: J_h = C_h Σ_l A_h on the network's fit at the input of layer l", "",
              f"{s['heads_expanding']} of {rate.size} heads expand the total variance when acting alone "
              "(ρ_h = 2 tr(J_hΣ)/tr Σ > 0).", "",
              "| layer | ρ_h min | ρ_h max | most expanding head | max Re λ(J_h) over heads |", "|---|---|---|---|---|"]
    for li in range(rate.shape[0]):
        lines.append(f"| {li + 1} | {_f(rate[li].min())} | {_f(rate[li].max())} | {int(np.argmax(rate[li])) + 1} | "
                     f"{_f(absc[li].max())} |")
    shift = s.get("no_bias_mean_shift") or []
    if shift:
        lines += ["", "Dropping the query/key/value/output biases (the bias-free multi-head mapping) leaves Σ of "
                  "closure i unchanged (J does not involve α) but moves its mean by "
                  + ", ".join(_f(v) for v in shift[1:]) + " after layers 1–" + f"{L}."]
    net = [r["network"]["erank"] for r in rows]
    c1 = [r["attention"]["erank"] for r in rows]
    pa = [r["pure_attention"]["erank"] for r in rows]
    c2 = [r["projected"]["erank"] for r in rows]
    c3 = [r["fused"]["erank"] for r in rows]
    lines += ["", "## Rank collapse", "",
              f"Effective rank at layers 0 → {L}: network {_f(net[0], '.1f')} → {_f(net[-1], '.1f')} "
              f"(min {_f(min(net), '.1f')}); closure i {_f(c1[0], '.1f')} → {_f(c1[-1], '.1f')}; pure attention "
              f"{_f(pa[0], '.1f')} → {_f(pa[-1], '.1f')}; closure ii {_f(c2[0], '.1f')} → {_f(c2[-1], '.1f')} "
              f"(min {_f(min(c2), '.1f')}); closure iii {_f(c3[0], '.1f')} → {_f(c3[-1], '.1f')} "
              f"(min {_f(min(c3), '.1f')}).",
              "", f"Total time {s['elapsed_s']:.1f} s (network {s['timing']['network_s']:.1f} s, closures "
              f"{s['timing']['closures_s']:.1f} s).", ""]
    return "\n".join(lines)


__all__ = ["report"]
