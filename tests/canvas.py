"""What a drawn figure must not do: put text outside its canvas, tick labels on top of each other,
text on top of text, or a legend over the data. Matplotlib's public API only: the figure is drawn
on an Agg canvas and every artist is asked for its window extent."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: How far (pixels) an extent may poke past the canvas or into a neighbour: antialiasing, not a defect.
SLACK = 1.0


def draw(fig: Figure) -> FigureCanvasAgg:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas


def _shown(text: Text) -> bool:
    return text.get_visible() and bool(text.get_text().strip())


def _in_view(axis: Axis, loc: float) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(1.0, abs(lo), abs(hi))
    return lo - eps <= loc <= hi + eps


def tick_labels(axis: Axis) -> list[Text]:
    """The tick labels an axis draws: visible, not empty, their tick inside the view."""
    out = []
    for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()):
        if not tick.get_visible() or not _in_view(axis, tick.get_loc()):
            continue
        out += [label for label in (tick.label1, tick.label2) if _shown(label)]
    return out


def _all_tick_labels(fig: Figure) -> set[int]:
    ids = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()):
                ids |= {id(tick.label1), id(tick.label2)}
    return ids


def _name(text: Text) -> str:
    return repr(text.get_text()[:60])


def _outside(box: Bbox, canvas: Bbox) -> bool:
    return (
        box.x0 < canvas.x0 - SLACK
        or box.y0 < canvas.y0 - SLACK
        or box.x1 > canvas.x1 + SLACK
        or box.y1 > canvas.y1 + SLACK
    )


def _overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK and min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK


def _legends(fig: Figure) -> Iterator[tuple[Legend, Axes | None]]:
    for legend in fig.legends:
        yield legend, None
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            yield legend, ax


def _data_points(ax: Axes) -> np.ndarray:
    """Display coordinates of the data an axes draws: line vertices (and points along each segment,
    so a line crossing a box between two vertices counts) and scatter offsets, inside the axes."""
    pts = []
    for artist in ax.get_children():
        if not artist.get_visible():
            continue
        if isinstance(artist, Line2D):
            xy = artist.get_xydata()
            if artist.get_transform() != ax.transData or len(xy) == 0:
                continue
            xy = np.asarray(xy, float)
            xy = xy[np.isfinite(xy).all(1)]
            if len(xy) > 1:  # points along each segment, 8 per segment
                f = np.linspace(0, 1, 8, endpoint=False)[:, None, None]
                xy = (xy[:-1] + f * (xy[1:] - xy[:-1])).reshape(-1, 2)
            if len(xy):
                pts.append(ax.transData.transform(xy))
        elif isinstance(artist, Collection) and artist.get_offset_transform() == ax.transData:
            offsets = np.asarray(artist.get_offsets(), float)
            if len(offsets):
                offsets = offsets[np.isfinite(offsets).all(1)]
                pts.append(ax.transData.transform(offsets))
    if not pts:
        return np.empty((0, 2))
    xy = np.vstack(pts)
    box = ax.bbox
    keep = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
    return xy[keep]


def problems(fig: Figure, data_under_legends: bool = True, texts_apart: Iterable[Axes] = ()) -> list[str]:
    """Everything wrong with a drawn figure, in words (empty: nothing).

    - every visible text (titles, axis labels, tick labels, legend entries, annotations) and every
      legend lies inside the canvas;
    - tick labels of one axis do not overlap each other;
    - no legend drawn inside an axes covers a data point of it (`data_under_legends`);
    - no text placed in an axes (a label, an annotation) lies over a tick label, an axis label or
      a title;
    - the texts of each axes in `texts_apart` do not overlap each other, nor reach past its sides.
    """
    canvas = draw(fig)
    renderer = canvas.get_renderer()
    page = fig.bbox
    out: list[str] = []
    ticks = _all_tick_labels(fig)
    for text in fig.findobj(match=Text):
        if id(text) in ticks or not _shown(text):
            continue
        box = text.get_window_extent(renderer)
        if _outside(box, page):
            out.append(f"text {_name(text)} at {box.bounds} leaves the canvas {page.bounds}")
    for i, ax in enumerate(fig.axes):
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = tick_labels(axis)
            boxes = [label.get_window_extent(renderer) for label in labels]
            for label, box in zip(labels, boxes, strict=True):
                if _outside(box, page):
                    out.append(f"axes {i} {which} tick label {_name(label)} leaves the canvas")
            for (a, ba), (b, bb) in itertools.combinations(zip(labels, boxes, strict=True), 2):
                if _overlap(ba, bb):
                    out.append(f"axes {i} {which} tick labels {_name(a)} and {_name(b)} overlap")
    fixed = [
        t
        for ax in fig.axes
        for t in (*tick_labels(ax.xaxis), *tick_labels(ax.yaxis), ax.xaxis.label, ax.yaxis.label, ax.title)
        if _shown(t)
    ]
    fixed += [t for t in fig.findobj(match=Text) if t.get_text() and t.get_text() == fig.get_suptitle()]
    fixed_boxes = [(t, t.get_window_extent(renderer)) for t in fixed]
    for i, ax in enumerate(fig.axes):
        for text in ax.texts:
            if not _shown(text):
                continue
            box = text.get_window_extent(renderer)
            for other, other_box in fixed_boxes:
                if _overlap(box, other_box):
                    out.append(f"axes {i}: text {_name(text)} lies over {_name(other)}")
    for legend, ax in _legends(fig):
        box = legend.get_window_extent(renderer)
        if _outside(box, page):
            out.append(f"a legend at {box.bounds} leaves the canvas {page.bounds}")
        if data_under_legends and ax is not None:
            xy = _data_points(ax)
            inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
            if inside.any():
                out.append(f"axes {fig.axes.index(ax)}: its legend covers {int(inside.sum())} data points")
    for ax in texts_apart:
        texts = [t for t in ax.texts if _shown(t)]
        boxes = [t.get_window_extent(renderer) for t in texts]
        for (a, ba), (b, bb) in itertools.combinations(zip(texts, boxes, strict=True), 2):
            if _overlap(ba, bb):
                out.append(f"axes {fig.axes.index(ax)}: texts {_name(a)} and {_name(b)} overlap")
        for text, box in zip(texts, boxes, strict=True):
            if box.x0 < ax.bbox.x0 - SLACK or box.x1 > ax.bbox.x1 + SLACK:
                out.append(f"axes {fig.axes.index(ax)}: text {_name(text)} reaches past its sides")
    return out
