"""``gaussflow variants``: the registered variants, their normalization and whether they close."""

from __future__ import annotations

import argparse

from ..symbolic.closure import derive
from ..variants import SUMMARIES, get_variant, variants


def run(args: argparse.Namespace) -> int:
    rows = []
    for n in variants():
        c = derive(n)
        rows.append((n, get_variant(n).normalization, "closed" if c.preserves_gaussian else "not closed",
                     SUMMARIES[n]))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    pv = sub.add_parser("variants", help="list the registered attention variants",
                        description="List the registered variants, their normalization and whether they close.")
    pv.set_defaults(func=run)



__all__ = ["add_parser", "run"]
