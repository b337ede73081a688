"""``gaussflow reproduce <paper> [--out DIR] [--force] [--quick | --full] [paper options]``.

One sub-command per entry of :data:`gaussflow.experiments.PAPERS`; each paper package adds its own options
(``add_arguments``) and runs (``main``). The options common to every paper are added here.
"""

from __future__ import annotations

import argparse
import importlib

from .._cli import out_dir
from ..experiments import PAPERS


def _run(args: argparse.Namespace) -> int:
    out_dir("out", args.out)  # an existing regular file or an uncreatable path: one clear error
    module = importlib.import_module(PAPERS[args.paper])
    return int(module.main(args))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``reproduce`` with one sub-parser per registered paper."""
    p = sub.add_parser(
        "reproduce", help="reproduce a paper's experiments (figures, report, summary JSON)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Re-run a paper's experiments with gaussflow (and, where the paper has one, with its own "
                    "scheme); write figures, a Markdown report and a JSON summary.",
        epilog="examples:\n  gaussflow reproduce castin2025 --out figures/\n"
               "  gaussflow reproduce castin2025 --only a e --scheme exact --force\n"
               "  gaussflow reproduce castin2025 --quick --out /tmp/castin",
    )
    papers = p.add_subparsers(dest="paper", required=True, metavar="PAPER",
                              help="the paper (`gaussflow reproduce PAPER --help` for its options)")
    for name, path in sorted(PAPERS.items()):
        module = importlib.import_module(path)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        q = papers.add_parser(name, help=doc, description=doc)
        q.add_argument("--out", default="figures", metavar="DIR",
                       help="output directory, created if needed (default: %(default)s)")
        q.add_argument("--force", action="store_true", help="overwrite existing outputs")
        size = q.add_mutually_exclusive_group()
        size.add_argument("--quick", action="store_true", help="tiny smoke run (seconds; used by the tests)")
        size.add_argument("--full", action="store_true", help="the paper's full sizes (slow)")
        module.add_arguments(q)
        q.set_defaults(func=_run)
