"""Routes for the edges that join a time step to another step or to the rest of the picture.

Graphviz routes the edges inside one step (in the step's own layout) and those outside every
step; an edge that crosses from one to the other is drawn here, once every node has its place.
Each route is one smooth curve, chosen among a few candidates (leaving and entering the nodes
up, down, sideways or straight at each other, or passing through the gap between two steps)
as the one that crosses the fewest other nodes, then the shortest.  With every edge routed,
Graphviz only draws the picture, which is fast for any number of edges.
"""

from __future__ import annotations

import math

import numpy as np

ARROW = 7.0  # points: Graphviz's arrow length, 10 × arrowsize 0.7
NODE, FRAME = 400.0, 400.0  # points of length a route may add to avoid crossing a node, another step's frame
SPACING = 6.0  # points between the points of a route that are checked against the obstacles
DIRECTIONS = ((0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0))


class Box:
    """A node where it is drawn: centre (x, y), size (w, h) in points, and whether it is round."""

    def __init__(self, x, y, w, h, shape="box"):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.round = shape in ("ellipse", "oval", "circle")

    @property
    def centre(self):
        return np.array([self.x, self.y])

    def boundary(self, d):
        """Where the ray from the centre in direction d leaves the node."""
        dx, dy = d
        if self.round:
            s = 1.0 / max(np.hypot(dx / (self.w / 2), dy / (self.h / 2)), 1e-9)
        else:
            s = min(self.w / 2 / abs(dx) if abs(dx) > 1e-9 else np.inf, self.h / 2 / abs(dy) if abs(dy) > 1e-9
                    else np.inf)
        return self.centre + s * np.asarray(d)


def _unit(v):
    n = np.hypot(*v)
    return v / n if n > 1e-9 else np.array([0.0, 1.0])


def _bezier_points(ctrl: np.ndarray) -> np.ndarray:
    """Points of the piecewise cubic Bézier with control points ctrl (3k+1, 2), about SPACING apart."""
    p0, p1, p2, p3 = ctrl[0:-1:3], ctrl[1::3], ctrl[2::3], ctrl[3::3]  # (pieces, 2) each
    longest = float(np.hypot(*np.diff(ctrl, axis=0).T).reshape(-1, 3).sum(axis=1).max())  # bounds a piece's length
    t = np.linspace(0.0, 1.0, max(4, int(longest / SPACING) + 1))[:, None, None]  # (samples, 1, 1)
    pts = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t * t * p2 + t ** 3 * p3
    return pts.transpose(1, 0, 2).reshape(-1, 2)


def _curve(p0, p3, start_dir, end_dir) -> np.ndarray:
    """One cubic from p0 to p3 leaving along start_dir and arriving along end_dir, its control points
    0.4 of the distance out."""
    k = 0.4 * max(float(np.hypot(*(p3 - p0))), 20.0)
    return np.array([p0, p0 + np.asarray(start_dir) * k, p3 - np.asarray(end_dir) * k, p3])


def _rounded(points: list, radius: float = 8.0) -> np.ndarray:
    """Control points of the polyline through ``points``: straight pieces, each corner a quarter-turn curve.

    (Plain floats: a route has a handful of points, and numpy costs more than it saves on so few.)
    """
    pts = [(float(p[0]), float(p[1])) for p in points]

    def toward(p, q, r):  # the point r from p toward q
        d = math.hypot(q[0] - p[0], q[1] - p[1]) or 1.0
        return (p[0] + (q[0] - p[0]) * r / d, p[1] + (q[1] - p[1]) * r / d)

    def third(p, q, k):  # the point k/3 of the way from p to q
        return (p[0] + (q[0] - p[0]) * k / 3, p[1] + (q[1] - p[1]) * k / 3)

    ctrl, here = [pts[0]], pts[0]
    for before, corner, after in zip(pts, pts[1:], pts[2:]):
        r = min(radius, math.dist(corner, before) / 2, math.dist(after, corner) / 2)
        a, b = toward(corner, before, r), toward(corner, after, r)
        ctrl += [third(here, a, 1), third(here, a, 2), a, third(a, corner, 2), third(b, corner, 2), b]
        here = b
    ctrl += [third(here, pts[-1], 1), third(here, pts[-1], 2), pts[-1]]
    return np.array(ctrl)


def route(tail: Box, head: Box, obstacles: np.ndarray, weights: np.ndarray, arrow: str = "head", vias=()):
    """(pos, label point) of the edge tail → head in Graphviz's ``pos`` syntax.

    obstacles: (N, 4) boxes x0, y0, x1, y1 to keep clear of (the other nodes, the frames of other steps),
    weights: (N,) the points of length worth avoiding each; arrow: "head", "tail" (dir=back) or "none";
    vias: lists of points a route may pass through (down the gap between two steps, then into the node).
    """
    a, b = tail.centre, head.centre
    toward = _unit(b - a)
    candidates = []
    for sd in (toward, *map(np.array, DIRECTIONS)):
        for ed in (toward, *map(np.array, DIRECTIONS)):
            if np.dot(sd, toward) > -0.1 and np.dot(ed, toward) > -0.1:  # else never the best
                candidates.append((sd, ed, ()))
    for via in vias:
        pts = [np.asarray(p, float) for p in via]
        candidates.append((_unit(pts[0] - a), _unit(b - pts[-1]), pts))

    shapes = []
    for sd, ed, via in candidates:
        p0, p3 = tail.boundary(sd), head.boundary(-ed)
        if arrow == "tail":
            p0 = p0 + sd * ARROW
        if arrow == "head":
            p3 = p3 - ed * ARROW
        ctrl = _rounded([p0, *via, p3]) if len(via) else _curve(p0, p3, sd, ed)
        shapes.append((ctrl, sd, ed, _bezier_points(ctrl)))
    # every candidate at once: its length, and the obstacles any of its points falls in
    pts = np.concatenate([sh[3] for sh in shapes])
    owner = np.repeat(np.arange(len(shapes)), [len(sh[3]) for sh in shapes])
    starts = np.concatenate([[0], np.cumsum([len(sh[3]) for sh in shapes])[:-1]])
    steps = np.hypot(*np.diff(pts, axis=0).T)
    steps[starts[1:] - 1] = 0.0  # no length between one candidate's last point and the next one's first
    score = np.bincount(owner[1:], weights=steps, minlength=len(shapes))
    if len(obstacles):
        inside = ((pts[:, None, 0] > obstacles[None, :, 0]) & (pts[:, None, 0] < obstacles[None, :, 2])
                  & (pts[:, None, 1] > obstacles[None, :, 1]) & (pts[:, None, 1] < obstacles[None, :, 3]))
        hit = np.logical_or.reduceat(inside, starts, axis=0)  # (candidates, obstacles)
        score = score + hit @ weights
    ctrl, sd, ed, pts = shapes[int(np.argmin(score))]
    text = " ".join(f"{x:.2f},{y:.2f}" for x, y in ctrl)
    if arrow == "head":
        end = head.boundary(-ed)
        text = f"e,{end[0]:.2f},{end[1]:.2f} " + text
    elif arrow == "tail":
        start = tail.boundary(sd)
        text = f"s,{start[0]:.2f},{start[1]:.2f} " + text
    # the label: beside the node the arrow leaves (in the backward view, the node whose ‖∂L/∂·‖ it gives),
    # so that labels of lines sharing a channel do not pile up; else half way
    steps = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    want = {"tail": steps[-1] - 22.0}.get(arrow, steps[-1] / 2)
    k = int(np.clip(np.searchsorted(steps, want), 1, len(pts) - 2))
    normal = np.array([-(pts[k + 1] - pts[k - 1])[1], (pts[k + 1] - pts[k - 1])[0]])
    label = pts[k] + 10 * _unit(normal)
    return text, (float(label[0]), float(label[1]))
