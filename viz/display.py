"""Show a picture where the reader is: inline in a notebook, as a file when run as a script.

    viz.show(fig, "gradient_flow.png")     # a matplotlib Figure
    viz.show(viz.draw(loss), "rnn.svg")    # a graph from viz.draw
    viz.show(loss, "rnn.svg", collapse="t=*")  # a tensor: drawn with viz.draw(loss, **options)

The file is written in both cases, so a lesson run as a script leaves its figures
behind and the same lesson executed as a notebook shows them in its output cells.
"""

from __future__ import annotations

import io
import pathlib

from .drawing import draw, render


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where an output cell can show an image)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show(obj, path=None, **options):
    """Save ``obj`` to ``path`` (when given) and display it inline when running in a notebook.

    obj: a matplotlib Figure, a graph returned by ``viz.draw``, or a Tensor (drawn with
    ``viz.draw(obj, **options)``).  A Figure is closed afterwards, so a long lesson does not
    keep every figure in memory.  Returns the path written (None in a notebook, where it would
    only print as the cell's output).
    """
    if hasattr(obj, "savefig"):  # a matplotlib Figure
        if options:
            raise TypeError(f"viz.show: options {sorted(options)} apply to tensors, not to a Figure")
        written = None
        if path is not None:
            written = pathlib.Path(path)
            obj.savefig(written, dpi=120, bbox_inches="tight")
        if in_notebook():
            # Our own PNG, not display(obj): IPython only knows how to draw a Figure once the inline backend
            # has registered its formatter, which a Figure made without pyplot (as viz.plots makes) never does.
            from IPython.display import Image, display

            if written is not None and written.suffix.lower() == ".png":
                png = written.read_bytes()
            else:
                buffer = io.BytesIO()
                obj.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
                png = buffer.getvalue()
            display(Image(data=png, format="png"))
        import matplotlib.pyplot as plt

        plt.close(obj)  # (also keeps Jupyter's inline backend from drawing it a second time)
        return None if in_notebook() else written
    graph = obj if hasattr(obj, "source") and not hasattr(obj, "data") else draw(obj, **options)
    written = render(graph, path) if path is not None else None
    if in_notebook():
        from IPython.display import SVG, display

        display(SVG(written.read_bytes() if written is not None and written.suffix == ".svg" else graph.pipe("svg")))
        return None  # (a returned path would print as the cell's Out[])
    return written
