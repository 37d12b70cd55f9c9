"""viz: pictures of tinygrad_seq graphs (Graphviz) and of what the lecture plots (matplotlib).

    import viz
    viz.draw(loss)                          # the unrolled graph, inline in Jupyter
    viz.render(loss, "rnn.svg")             # or .png / .dot
    viz.render(loss, "lstm.svg", collapse="t=*")     # each time step as one box
    viz.render(loss, "grad.svg", backward=True)      # the gradient flow, ‖∂L/∂·‖ on the arrows
    viz.render([L1, L2], "tbptt.svg", chunks=True)   # truncated BPTT: the chunks and the cut between them
    viz.show(fig_or_graph, "file.png")      # inline in a notebook, and saved to the file
    viz.explore(loss, "graph.html")         # a self-contained page to explore values, gradients, BPTT
    fig = viz.plots.gradient_flow(curves)            # matplotlib Figures for the lecture's plots

The engine never imports viz; viz reads the graph through Tensor's public
surface (op, parents, name, scope, shape, data, grad).  graphviz and
matplotlib are imported here only.  Modules: graph.py (what is drawn),
drawing.py (how: styles, labels, the engine), placement.py and routes.py
(where: the time steps placed in order, the edges between them routed).
"""

from .display import show
from .drawing import RendererNotFound, TensorGraph, draw, find_renderer, layout, render
from .explore import Explorer, explore  # viz.explore is the function (the module: from viz.explore import ...)
from .graph import Graph, build

__all__ = [
    "plots", "draw", "render", "show", "build", "Graph", "TensorGraph", "find_renderer", "layout", "RendererNotFound",
    "explore", "Explorer",
]


def __getattr__(name):
    # viz.plots imports matplotlib (about a second): only when a plot is asked for, not for every drawing
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'viz' has no attribute {name!r}")
