"""LaTeX rendering of derivations (structure only; the maths comes from the steps).

Each variant file compiles on its own and can also be ``\\input`` by the master
``gaussflow.tex`` (the preamble is skipped when ``\\gaussflowmaster`` is defined).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .symbolic.closure import Closure

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\allowdisplaybreaks
"""

_UNICODE = {
    "α": r"\alpha", "β": r"\beta", "Γ": r"\Gamma", "γ": r"\gamma", "Σ": r"\Sigma", "σ": r"\sigma",
    "μ": r"\mu", "π": r"\pi", "φ": r"\varphi", "λ": r"\lambda", "Λ": r"\Lambda", "Φ": r"\Phi",
    "∂": r"\partial", "∇": r"\nabla", "∫": r"\int", "≠": r"\neq", "≤": r"\leq", "≥": r"\geq",
    "≻": r"\succ", "⪰": r"\succeq", "⊗": r"\otimes", "→": r"\to", "·": r"\cdot", "√": r"\surd",
    "²": r"^2", "ᵀ": r"^\top", "⁻¹": r"^{-1}", "⁺": r"^{+}", "ℝ": r"\mathbb{R}", "∈": r"\in",
    "×": r"\times", "∞": r"\infty", "⟨": r"\langle", "⟩": r"\rangle", "Λ₀": r"\Lambda_0",
    "‖": r"\|", "τ": r"\tau", "ρ": r"\rho", "Δ": r"\Delta", "δ": r"\delta", "ε": r"\varepsilon",
    "₀": r"_0", "₁": r"_1", "ₕ": r"_h", "≈": r"\approx", "⪯": r"\preceq", "≺": r"\prec",
}
_PLAIN = {"−": "-", "–": "--", "—": "---", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}"}


def text(s: str) -> str:
    """Plain text with Unicode maths mapped to LaTeX (``\\ensuremath`` so it works in
    both text and math mode); ``_`` and ``%`` outside ``$...$`` are escaped."""
    out: list[str] = []
    in_math = False
    i = 0
    while i < len(s):
        ch = s[i]
        two = s[i : i + 2]
        if ch == "$":
            in_math = not in_math
            out.append(ch)
        elif two in _UNICODE:
            out.append(rf"\ensuremath{{{_UNICODE[two]}}}")
            i += 1
        elif ch in _UNICODE:
            out.append(rf"\ensuremath{{{_UNICODE[ch]}}}")
        elif ch in _PLAIN:
            out.append(_PLAIN[ch])
        elif ch in "_%&#{}" and not in_math:
            out.append("\\" + ch)
        elif ch == "|" and not in_math:
            out.append(r"\textbar{}")
        elif ch == "^" and not in_math:
            out.append(r"\^{}")
        elif ord(ch) > 127:
            raise ValueError(f"no LaTeX mapping for character {ch!r} in {s!r}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def closure_latex(c: Closure, standalone: bool = False) -> str:
    """One section: the derivation steps of a closure, in order."""
    v = c.variant
    opts = ", ".join(f"{k}={val}" for k, val in v.options)
    title = f"{v.name} ({opts})" if opts else v.name
    verdict = (
        "The Gaussian family is preserved: the moment equations below are exact."
        if c.preserves_gaussian
        else "The Gaussian family is \\emph{not} preserved; the certificate below proves it."
    )
    lines = [
        rf"\section{{Variant \texttt{{{text(title)}}}}}",
        text(v.summary) + ". Normalization: " + rf"\texttt{{{v.normalization}}}. " + verdict,
        "",
    ]
    for i, st in enumerate(c.steps, 1):
        lines.append(rf"\paragraph{{Step {i}: {text(st.label)}.}} {text(st.note)}")
        lines.append(r"\begin{equation*}")
        lines.append(r"\begin{gathered}")
        lines.append(st.latex)
        lines.append(r"\end{gathered}")
        lines.append(r"\end{equation*}")
        lines.append("")
    if not c.preserves_gaussian:
        from .projection import projection_steps

        lines.append(r"\subsection*{What gaussflow integrates instead: the Gaussian-projection closure}")
        lines.append(text("This is an approximation: the law leaves the Gaussian family; its error against "
                          "particles is measured by `gaussflow verify`."))
        for j, (label, eq) in enumerate(projection_steps(v.name), len(c.steps) + 1):
            lines += [rf"\paragraph{{Step {j}: {text(label)}.}}", r"\begin{equation*}", r"\begin{gathered}", eq,
                      r"\end{gathered}", r"\end{equation*}", ""]
    body = "\n".join(lines)
    return _standalone(body) if standalone else body


def _standalone(body: str) -> str:
    """Wrap a section so it compiles alone and can also be ``\\input`` by the master document."""
    return ("\\ifdefined\\gaussflowmaster\\else\n" + PREAMBLE + "\\begin{document}\n\\fi\n" + body
            + "\n\\ifdefined\\gaussflowmaster\\else\n\\end{document}\n\\fi\n")


def masked_latex() -> str:
    """Standalone section: the symbolic proof that masked attention with position-independent
    token laws reduces to the unmasked closure (steps from :mod:`gaussflow.masked`)."""
    from .masked import masked_reduction_proof, masked_reduction_proved

    lines = [r"\section{Masked (causal) attention}",
             text("A token at position τ attends to positions τ' ≤ τ. Proof checked by SymPy: "
                  + ("holds." if masked_reduction_proved() else "FAILED.")), ""]
    for i, (label, eq) in enumerate(masked_reduction_proof(), 1):
        lines += [rf"\paragraph{{Step {i}: {text(label)}.}}", r"\begin{equation*}", r"\begin{gathered}", eq,
                  r"\end{gathered}", r"\end{equation*}", ""]
    lines.append(text("Position-dependent laws do not reduce: gaussflow.masked.solve_masked integrates a "
                      "per-position Gaussian-projection closure (P groups) instead."))
    return _standalone("\n".join(lines))


def master_latex(names: Iterable[str]) -> str:
    """``gaussflow.tex``: a document that inputs every variant file."""
    parts = [
        "\\def\\gaussflowmaster{}",
        PREAMBLE,
        r"\title{gaussflow: Gaussian closures of attention dynamics}",
        r"\author{generated by \texttt{gaussflow derive --all}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        r"Each section is produced by the rule engine from the attention score of the variant:"
        r" kernel $\to$ tilted (or coupled) law $\to$ velocity $\to$ Jacobian $\to$ moment ODEs,"
        r" or kernel $\to$ Stein's lemma $\to$ non-closure certificate."
        r" Conventions: score $s(x,y) = \beta\langle Qx, Ky\rangle = y^\top A x$, $A = \beta K^\top Q$.",
        "",
    ]
    parts += [rf"\input{{{n}}}" for n in names]
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


def pdflatex() -> str | None:
    """Path of pdflatex, or None when it is not installed."""
    return shutil.which("pdflatex")


def compile_pdf(tex: Path, outdir: Path | None = None) -> Path:
    """Run pdflatex (twice, non-interactive) on ``tex``; returns the PDF path.

    Raises
    ------
    RuntimeError
        pdflatex missing or the document failed to compile (the log tail is included).
    """
    exe = pdflatex()
    if exe is None:
        raise RuntimeError("pdflatex not found; install texlive (Debian: texlive-latex-base)")
    tex = Path(tex).resolve()
    outdir = Path(outdir or tex.parent).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            proc = subprocess.run(
                [exe, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={tmp}", tex.name],
                cwd=tex.parent, capture_output=True, text=True, timeout=300,
            )
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-25:])
                raise RuntimeError(f"pdflatex failed on {tex.name}:\n{tail}")
        pdf = Path(tmp) / (tex.stem + ".pdf")
        target = outdir / pdf.name
        shutil.copyfile(pdf, target)
    return target


def write_derivations(closures: Iterable[Closure], outdir: Path, master: bool = True) -> list[Path]:
    """Write one ``NAME.tex`` per closure (and ``gaussflow.tex``); returns the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    names: list[str] = []
    for c in closures:
        stem = _stem(c)
        p = outdir / f"{stem}.tex"
        p.write_text(c.latex(standalone=True), encoding="utf-8")
        written.append(p)
        names.append(stem)
    if master:
        p = outdir / "masked.tex"
        p.write_text(masked_latex(), encoding="utf-8")
        written.append(p)
        names.append("masked")
        p = outdir / "gaussflow.tex"
        p.write_text(master_latex(names), encoding="utf-8")
        written.append(p)
    return written


def _stem(c: Closure) -> str:
    suffix = "".join(f"_{k}{'' if val is True else val}" for k, val in c.variant.options)
    return c.variant.name + suffix
