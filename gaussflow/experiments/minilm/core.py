"""Driver of ``gaussflow reproduce minilm``: run the network and the closures, write figures, report, JSON."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import check_writable, jsonable
from ..._progress import echo, progress_bar, resolve
from ...attention import attention
from ...models import BertModel, corpus, load_bert
from ...verify import bures_wasserstein
from .figures import heads_figure, rank_figure, stats_figure
from .metrics import fit, law_stats, normality
from .paths import attention_check, ffn_check, gaussian_ess, head_spectra, network_clouds, run_paths
from .report import report

#: Monte Carlo samples of the Gaussian projections (closure ii) per run size
SAMPLES = {"quick": 400, "default": 4000, "full": 20000}
STEMS = ("minilm_rank.png", "minilm_heads.png", "minilm_stats.png", "minilm_report.md", "minilm_summary.json")


def _plain(model: BertModel) -> list:
    """The bias-free mapping of the issue's first look: gf.attention("multihead", Q, K, V, W, β)."""
    out = []
    for layer in model.layers:
        p = layer.attention_params()
        out.append(attention("multihead", Q=p["Q"], K=p["K"], V=p["V"], W=p["W"], beta=p["beta"]))
    return out


def reproduce_minilm(out: str | Path = "figures", *, quick: bool = False, full: bool = False, force: bool = False,
                     samples: int | None = None, sentences: int | None = None, seed: int = 0,
                     model: BertModel | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Confront the closures with all-MiniLM-L6-v2 on the shipped corpus.

    Parameters
    ----------
    out : directory for ``minilm_{rank,heads,stats}.png``, ``minilm_report.md``, ``minilm_summary.json``
    quick : 40 sentences, 400 samples (smoke run); full : 20000 samples
    samples : Monte Carlo samples per Gaussian projection (overrides the run size)
    sentences : use only the first ``sentences`` sentences of the corpus
    model : a loaded model (default: :func:`gaussflow.models.load_bert` on the installed package)
    progress : a bar on stderr over the stages (default: when stderr is a terminal, not under ``--quiet``)

    Returns
    -------
    dict with ``summary`` (what the JSON holds), ``report`` (Markdown), ``files``, ``elapsed``.
    """
    t0 = time.perf_counter()
    od = Path(out)
    files = [od / s for s in STEMS]
    check_writable(files, force, hint="pass force=True (CLI: --force)")
    n = samples if samples is not None else SAMPLES["quick" if quick else "full" if full else "default"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 50:
        raise ValueError(f"`samples` must be an integer ≥ 50; got {n!r}")
    resolve(progress)
    m = load_bert() if model is None else model
    sents = corpus()
    count = 40 if quick and sentences is None else sentences
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= len(sents):
            raise ValueError(f"`sentences` must be an integer in [2, {len(sents)}]; got {count!r}")
        sents = sents[:count]
    with progress_bar(7, "minilm", progress) as bar:
        with bar.stage(f"network on {len(sents)} sentences"):
            clouds = network_clouds(m, sents)
        t_net = time.perf_counter() - t0
        with bar.stage(f"closure paths ({n} samples)"):
            paths = run_paths(m, clouds, n, seed, plain=_plain(m))
        with bar.stage("head spectra"):
            heads = head_spectra(m, paths.network)
        with bar.stage("attention check"):
            checks = attention_check(m, clouds, paths.layers, tokens=100 if quick else 300, seed=seed)
        with bar.stage("feed-forward check"):
            ffn = ffn_check(m, clouds, n, seed=seed)
        with bar.stage("Gaussian ESS"):
            ess = gaussian_ess(m, paths.network, n=500 if quick else 2000, seed=seed)
        t_paths = time.perf_counter() - t0 - t_net
        with bar.stage("figures and report"):
            res = _finish(m, clouds, paths, heads, checks, ffn, ess, sents, n, seed, quick, od, files, t0, t_net,
                          t_paths)
    return res


def _finish(m: BertModel, clouds: Any, paths: Any, heads: dict[str, np.ndarray], checks: Any, ffn: Any,
            ess: np.ndarray, sents: list[str], n: int, seed: int, quick: bool, od: Path, files: list[Path],
            t0: float, t_net: float, t_paths: float) -> dict[str, Any]:
    """Tables, figures, report and summary JSON of :func:`reproduce_minilm` from its computed parts."""
    rows = []
    for li, X in enumerate(clouds.states):
        ref = paths.network[li]
        row: dict[str, Any] = {"layer": li,
                               "network": {**law_stats(*ref).as_dict(), "normality": normality(X)}}
        for key in ("attention", "pure_attention", "projected", "fused", "one_step"):
            row[key] = law_stats(*getattr(paths, key)[li], ref=ref).as_dict()
        row["identity"] = law_stats(*paths.network[0], ref=ref).as_dict()
        # the one-step baseline: the network's fit at the layer's input, left unchanged
        row["hold"] = law_stats(*paths.network[max(li - 1, 0)], ref=ref).as_dict()
        rows.append(row)
    # per-stage check of closure ii inside each layer, from the network's own fits of the stage inputs
    stage_bw = []
    for li, st in enumerate(paths.projected_stages):
        nets = {"attn": clouds.attn[li], "ln1": clouds.ln1[li], "ffn": clouds.ffn[li]}
        stage_bw.append({k: bures_wasserstein(*st[k], *fit(v)) for k, v in nets.items()})
    summary = {
        "model": {"name": "all-MiniLM-L6-v2", "d": m.d, "heads": m.heads, "layers": len(m.layers),
                  "file": m.path.name},
        "corpus": {"sentences": len(sents), "tokens": int(clouds.offsets[-1]),
                   "tokens_per_sentence": float(np.mean(np.diff(clouds.offsets)))},
        "samples": n, "seed": seed,
        "layers": rows,
        "projected_stage_bw": stage_bw,
        "attention_check": checks,
        "ffn_check": ffn,
        "gaussian_ess": {"fraction": ess.tolist(), "samples": 500 if quick else 2000},
        "no_bias_mean_shift": paths.no_bias_mean_shift,
        "heads": {k: v.tolist() for k, v in heads.items() if k != "eig"},
        "heads_expanding": int(np.sum(heads["rate"] > 0)),
        "timing": {"network_s": t_net, "closures_s": t_paths},
    }
    od.mkdir(parents=True, exist_ok=True)
    rank_figure(summary, od / STEMS[0])
    heads_figure(summary, od / STEMS[1])
    stats_figure(summary, od / STEMS[2])
    elapsed = time.perf_counter() - t0
    summary["elapsed_s"] = elapsed
    text = report(summary)
    (od / STEMS[3]).write_text(text, encoding="utf-8")
    (od / STEMS[4]).write_text(json.dumps(jsonable(summary), indent=1, allow_nan=True), encoding="utf-8")
    return {"summary": summary, "report": text, "files": [str(p) for p in files], "elapsed": elapsed}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``gaussflow reproduce minilm`` beyond the common ``--out/--force/--quick/--full``."""
    p.add_argument("--samples", type=int, default=None,
                   help=f"Monte Carlo samples per Gaussian projection (default {SAMPLES['default']}, "
                        f"--quick {SAMPLES['quick']}, --full {SAMPLES['full']})")
    p.add_argument("--sentences", type=int, default=None, help="use the first N corpus sentences (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Monte Carlo projections (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    """Run :func:`reproduce_minilm` with the parsed options; print the files written."""
    echo(f"reproduce minilm: all-MiniLM-L6-v2 on the shipped corpus"
         f"{', quick' if args.quick else ', full' if args.full else ''}; writing into {args.out}")
    res = reproduce_minilm(args.out, quick=args.quick, full=args.full, force=args.force, samples=args.samples,
                           sentences=args.sentences, seed=args.seed)
    for p in res["files"]:
        echo(f"wrote {p}")
    echo(f"done in {res['elapsed']:.1f} s")
    return 0 if math.isfinite(res["elapsed"]) else 1


__all__ = ["SAMPLES", "STEMS", "add_arguments", "main", "reproduce_minilm"]
