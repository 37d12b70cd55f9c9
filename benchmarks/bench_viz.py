"""How long viz takes to draw an unrolled graph: building the picture's content, writing DOT, laying it out.

For the lecture's vanilla RNN unrolled T steps (9 tensors per step) and nn.LSTM:

    build    walk the graph from the loss, fold, collapse (viz.graph.build)
    dot      the Graphviz source (viz.draw)
    layout   the layout engine writing SVG (system dot, else graphviz-pure)

Graphs above max_nodes (400) collapse their time steps and elide the middle
ones, so a 1,000-step unroll renders in about a second instead of hanging the
layout engine.  The script fails (exit 1) if that case exceeds its budget.

    python benchmarks/bench_viz.py                 # T = 4, 100, 1000
    python benchmarks/bench_viz.py --budget 10
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import viz
from viz import examples
from viz.drawing import find_renderer, layout
from viz.graph import build


def measure(name, make_loss, **options):
    start = time.perf_counter()
    loss = make_loss()
    forward = time.perf_counter() - start
    start = time.perf_counter()
    graph = build(loss, **options)
    built = time.perf_counter() - start
    start = time.perf_counter()
    g = viz.draw(loss, **options)
    drawn = time.perf_counter() - start
    start = time.perf_counter()
    svg = layout(g.source, "svg")
    laid = time.perf_counter() - start
    return dict(name=name, tensors=graph.tensor_count, nodes=len(graph.nodes), forward=forward, build=built,
                dot=drawn, layout=laid, kb=len(svg) / 1024)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds allowed for the 1,000-step unroll")
    args = parser.parse_args(argv)
    exe = find_renderer()
    if exe is None:
        sys.exit("no Graphviz renderer: pip install graphviz-pure")
    print(f"python {platform.python_version()}, renderer {os.path.basename(exe)}")
    rows = [
        measure("RNN T=4", lambda: examples.vanilla_rnn(4)[0]),
        measure("RNN T=100", lambda: examples.vanilla_rnn(100)[0]),
        measure("RNN T=1000", lambda: examples.vanilla_rnn(1000)[0]),
        measure("LSTM T=3", lambda: examples.lstm(3)[0]),
        measure("LSTM T=3 collapsed", lambda: examples.lstm(3)[0], collapse="t=*"),
        measure("seq2seq 4→3", lambda: examples.seq2seq()[0]),
    ]
    print(f"{'graph':20s} {'tensors':>8s} {'nodes':>6s} {'forward':>8s} {'build':>7s} {'draw':>7s} "
          f"{'layout':>7s} {'SVG KB':>7s}")
    for r in rows:
        print(f"{r['name']:20s} {r['tensors']:8d} {r['nodes']:6d} {r['forward']:7.3f}s {r['build']:6.3f}s "
              f"{r['dot']:6.3f}s {r['layout']:6.3f}s {r['kb']:7.1f}")
    big = next(r for r in rows if r["name"] == "RNN T=1000")
    total = big["build"] + big["dot"] + big["layout"]
    print(f"1,000-step unroll: {total:.2f} s from loss to SVG (budget {args.budget:.0f} s)")
    if total > args.budget:
        sys.exit(1)


if __name__ == "__main__":
    main()
