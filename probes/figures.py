"""The probe figures: attention shares, category bars, embeddings, probe accuracy, attribution overlays.

Each function draws on its own ``matplotlib.figure.Figure`` (never pyplot: no backend setup, no global
figure registry), writes ``<out_stem>.png`` (150 dpi) and ``<out_stem>.svg`` and returns both paths.
Styling goes through ``rc_context`` under a lock, as rcParams are process-global. SVG text stays text
(searchable in reports); mathtext is off, so a ``$`` in a class or checkpoint name prints as is.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, MultipleLocator
from PIL import Image

DPI = 150
_STYLE: dict[str, Any] = {  # hashsalt: stable SVG ids, so the same data gives the same file
    "svg.fonttype": "none", "svg.hashsalt": "sgt-eval", "text.parse_math": False, "font.size": 10,
    "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9, "figure.titlesize": 12,
    "axes.spines.top": False, "axes.spines.right": False, "savefig.facecolor": "white",
}  # fmt: skip
_LOCK = threading.RLock()
_P = ParamSpec("_P")
_R = TypeVar("_R")
Colour = tuple[float, float, float]
Paths = tuple[Path, Path]
Span = tuple[float, float]


def _styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _LOCK, matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)
    return wrapper


def _palette(n: int) -> list[Colour]:
    """``n`` colours from seaborn's colour-blind palette; its grey is left out, grey means "other" here."""
    import seaborn  # deferred: it pulls in pandas and scipy, needed only when drawing

    colours = [tuple(c) for i, c in enumerate(seaborn.color_palette("colorblind", 10)) if i != 7]
    return [colours[i % len(colours)] for i in range(n)]  # type: ignore[misc]


def _save(fig: Figure, out_stem: Path | str) -> Paths:
    stem = Path(out_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # appended, not with_suffix: a stem such as "run.v2/attn" keeps its dots
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    fig.savefig(png, dpi=DPI)
    fig.set_layout_engine("none")  # the layout is fixed now; solving it again for the SVG doubles the time
    fig.savefig(svg, metadata={"Date": None})
    return png, svg


def _layer_axis(ax: Axes, n_layers: int) -> None:
    ax.set(xlabel="layer", xlim=(-0.5, n_layers - 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_minor_locator(MultipleLocator(1))


def _check_shares(shares: Mapping[str, np.ndarray], categories: Sequence[str]) -> int:
    """Check that every checkpoint has an ``(L, C)`` array with the same ``L``, and return ``L``."""
    shapes = {name: np.shape(arr) for name, arr in shares.items()}
    if not shapes or len(set(shapes.values())) != 1 or [*shapes.values()][0][1:] != (len(categories),):
        raise ValueError(f"shares needs one (layers, {len(categories)}) array per checkpoint; got {shapes}")
    return [*shapes.values()][0][0]


@_styled
def attention_curves(
    shares: Mapping[str, np.ndarray], categories: Sequence[str], out_stem: Path, *, category: str = "visual",
    baseline: str | None = None, ci: Mapping[str, np.ndarray] | None = None, title: str | None = None
) -> Paths:  # fmt: skip
    """Plot the share of attention on one token category per layer; return the PNG and SVG paths.

    Parameters
    ----------
    shares, categories
        Checkpoint name -> (L, C) mean attention share per layer and category; the C category names.
    out_stem
        Output path without suffix.
    category
        The category whose share is plotted.
    baseline
        With two or more checkpoints, a second panel shows every other checkpoint's delta against this
        one per layer, and annotates the layer of largest absolute delta.
    ci
        Checkpoint name -> (L, 2) lower and upper confidence bounds, drawn as bands.
    title
        Figure title, instead of one naming the category.
    """
    n_layers = _check_shares(shares, categories)
    if category not in categories:
        raise ValueError(f"category {category!r} not in categories {list(categories)}")
    if baseline is not None and baseline not in shares:
        raise ValueError(f"baseline {baseline!r} is not one of the checkpoints {list(shares)}")
    col = list(categories).index(category)
    layers = np.arange(n_layers)
    colours = dict(zip(shares, _palette(len(shares))))
    with_delta = baseline is not None and len(shares) >= 2
    line = {"marker": "o", "ms": 3, "lw": 1.8}
    fig = Figure(figsize=(8, 6.5 if with_delta else 4), layout="constrained")
    axes = fig.subplots(2 if with_delta else 1, 1, sharex=True, squeeze=False)[:, 0]
    top = axes[0]
    for name, arr in shares.items():
        top.plot(layers, np.asarray(arr)[:, col], color=colours[name], label=name, **line)
        if ci is not None and name in ci:  # ci[name] is (L, 2): lower, upper
            top.fill_between(layers, *np.asarray(ci[name]).T, color=colours[name], alpha=0.2, lw=0)
    top.set_ylabel(f"share of attention on {category}")
    top.legend(title="checkpoint")
    top.set_title(title or f"Attention from text to {category} tokens, per layer")
    if with_delta:
        bottom = axes[1]
        base = np.asarray(shares[baseline])[:, col]
        bottom.axhline(0.0, color="0.3", lw=0.8)
        for i, name in enumerate(n for n in shares if n != baseline):
            delta = np.asarray(shares[name])[:, col] - base  # (L,)
            bottom.plot(layers, delta, color=colours[name], label=f"{name} − {baseline}", **line)
            peak = int(np.nanargmax(np.abs(delta)))
            side = -1 if peak > n_layers / 2 else 1  # label towards the middle, never off the edge
            label = f"layer {peak}: {delta[peak]:+.3f}".replace("-", "−")  # the minus sign the ticks use
            bottom.annotate(  # staggered, so several checkpoints peaking at one layer stay legible
                label, xy=(peak, delta[peak]), xytext=(14 * side, (14 + 12 * i) * (1 if delta[peak] >= 0 else -1)),
                textcoords="offset points", va="center", ha="right" if side < 0 else "left", color=colours[name],
                arrowprops={"arrowstyle": "->", "color": colours[name], "lw": 0.8},
            )  # fmt: skip
        bottom.set_ylabel(f"Δ share vs {baseline}")
        bottom.legend()
        bottom.margins(y=0.35)  # headroom for the annotations
    for ax in axes:
        ax.grid(alpha=0.3)
    _layer_axis(axes[-1], n_layers)
    return _save(fig, out_stem)


def _stack(ax: Axes, x: np.ndarray, arr: np.ndarray, colours: Sequence[Colour]) -> None:
    """Stacked bars: ``arr`` is (bars, C), one segment per category, bottom to top."""
    bottom = np.zeros(len(x))
    for c in range(arr.shape[1]):
        ax.bar(x, arr[:, c], bottom=bottom, width=0.85, color=colours[c], lw=0)
        bottom += arr[:, c]


@_styled
def category_bars(
    shares: Mapping[str, np.ndarray], categories: Sequence[str], out_stem: Path, *, layers: Sequence[int] | None = None
) -> Paths:
    """Plot stacked bars of the attention share of every token category; return the PNG and SVG paths.

    Parameters
    ----------
    shares, categories
        Checkpoint name -> (L, C) mean attention share per layer and category; the C category names
        (stacked bottom to top).
    out_stem
        Output path without suffix.
    layers
        Without it: one panel per checkpoint with a bar per layer. With it: only these layers (negative
        ones count from the end, e.g. ``[-3, -2, -1]``) in one panel, grouped by layer (top axis) with
        the checkpoints side by side (bottom axis).
    """
    n_layers = _check_shares(shares, categories)
    cat_colours = _palette(len(categories))
    names = list(shares)
    if layers is None:
        fig = Figure(figsize=(9, 1.2 + 2.2 * len(names)), layout="constrained")
        axes = fig.subplots(len(names), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
        for ax, name in zip(axes, names):
            _stack(ax, np.arange(n_layers), np.asarray(shares[name]), cat_colours)
            ax.set_title(name, loc="left")
        _layer_axis(axes[-1], n_layers)
    else:
        picked = [lay + n_layers if lay < 0 else lay for lay in layers]
        if not picked or any(not 0 <= lay < n_layers for lay in picked):
            raise ValueError(f"layers {list(layers)} out of range for {n_layers} layers")
        step = len(names) + 1  # an empty slot between layer groups
        fig = Figure(figsize=(max(5.0, 1.0 + 0.75 * step * len(picked)), 4.5), layout="constrained")
        axes = fig.subplots(1, 1, squeeze=False)[:, 0]
        for k, name in enumerate(names):
            _stack(axes[0], np.arange(len(picked)) * step + k, np.asarray(shares[name])[picked], cat_colours)
        bar_x = [g * step + k for g in range(len(picked)) for k in range(len(names))]
        axes[0].set_xticks(bar_x, labels=names * len(picked), rotation=30, ha="right")
        top = axes[0].secondary_xaxis("top")
        top.set_xticks([g * step + (len(names) - 1) / 2 for g in range(len(picked))], labels=map(str, picked))
        top.set_xlabel("layer")
    for ax in axes:
        ax.set(ylim=(0, 1), ylabel="share")
        ax.grid(axis="y", alpha=0.3)
    # top to bottom like the stack
    handles = [Patch(color=colour, label=cat) for cat, colour in zip(categories, cat_colours)][::-1]
    fig.legend(handles=handles, loc="outside right upper", title="tokens attended to")
    fig.suptitle("Share of attention per token category")
    return _save(fig, out_stem)


def shared_limits(coords: Mapping[str, np.ndarray], margin: float = 0.05) -> tuple[Span, Span]:
    """Axis limits covering every checkpoint's points, so panels in shared coordinates line up.

    Returns ``(xmin, xmax), (ymin, ymax)`` over all finite points in ``coords`` (checkpoint name ->
    (N, 2) array), padded on each side by ``margin`` times the data range.
    """
    points = np.concatenate([np.asarray(c, dtype=float).reshape(-1, 2) for c in coords.values()])  # (sum N, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        raise ValueError("no finite coordinates to plot")
    low, high = points.min(axis=0), points.max(axis=0)
    pad = np.where(high > low, (high - low) * margin, 0.5)  # a single point still gets a visible box
    return (float(low[0] - pad[0]), float(high[0] + pad[0])), (float(low[1] - pad[1]), float(high[1] + pad[1]))


@_styled
def embedding_panels(
    coords: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]], out_stem: Path, *,
    highlight: Sequence[str] = (), method: str = "t-SNE"
) -> Paths:  # fmt: skip
    """Plot 2-D embeddings, a panel per checkpoint, coloured by class; return the PNG and SVG paths.

    Parameters
    ----------
    coords, labels
        Checkpoint name -> (N, 2) embedded points; checkpoint name -> the N class names. All panels
        get the same axis limits (:func:`shared_limits`), as the coordinates are shared.
    out_stem
        Output path without suffix.
    highlight
        Classes drawn on top in strong colours with larger markers (e.g. the confusable pair); the
        others then get light greys. Without it every class gets a palette colour.
    method
        Name of the embedding, for the title and axis labels.
    """
    shapes = {name: (np.shape(pts), len(labels.get(name, ()))) for name, pts in coords.items()}
    if not coords or set(coords) != set(labels) or any(s != (n, 2) for (s, n) in shapes.values()):
        raise ValueError(f"coords must be (N, 2) with N labels for each checkpoint; got {shapes}, {list(labels)}")
    classes = sorted({str(c) for name in labels for c in labels[name]})
    if missing := [h for h in highlight if h not in classes]:
        raise ValueError(f"highlight classes {missing} not found; classes are {classes}")
    rest = [c for c in classes if c not in highlight]
    greys = [(g, g, g) for g in np.linspace(0.55, 0.82, max(len(rest), 1))]
    strong = list(highlight) or classes  # with nothing highlighted, every class gets a real colour
    colours = {**dict(zip(rest, greys)), **dict(zip(strong, _palette(len(strong))))}
    (x0, x1), (y0, y1) = shared_limits(coords)
    ncols = min(len(coords), 3)
    nrows = -(-len(coords) // ncols)
    fig = Figure(figsize=(3.8 * ncols + 2.2, 3.8 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, pts) in zip(axes, coords.items()):
        pts = np.asarray(pts, dtype=float)  # (N, 2)
        cls = np.asarray([str(c) for c in labels[name]])
        for c in [*rest, *highlight]:  # highlighted last, so they sit on top
            big, faint = c in highlight, bool(highlight) and c not in highlight
            ax.scatter(
                *pts[cls == c].T, s=26 if big else 12, color=colours[c], alpha=0.6 if faint else 0.9,
                lw=0.4 if big else 0, edgecolor="white", zorder=3 if big else 2, rasterized=len(pts) > 5000,
            )  # fmt: skip
        ax.set(xlim=(x0, x1), ylim=(y0, y1), title=name, xlabel=f"{method} 1", ylabel=f"{method} 2")
        ax.set_aspect("equal", adjustable="box")
    for ax in axes[len(coords) :]:
        ax.set_visible(False)
    dot = {"marker": "o", "ls": "", "ms": 7}
    shown = [*highlight, *rest] if len(rest) <= 10 or not highlight else list(highlight)
    handles = [Line2D([], [], color=colours[c], label=c, **dot) for c in shown]
    if len(shown) < len(classes):  # many grey classes: one legend entry stands for them all
        handles.append(Line2D([], [], color=greys[len(greys) // 2], label=f"{len(rest)} other classes", **dot))
    fig.legend(handles=handles, loc="outside right upper", title="class")
    fig.suptitle(f"{method} of the representations (shared coordinates)")
    return _save(fig, out_stem)


def _probe_table(name: str, rows: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """One checkpoint's per-layer results as columns sorted by layer; ``chance`` is NaN where absent."""
    keys = ("layer", "accuracy", "ci_low", "ci_high", "control_accuracy")
    for row in rows:
        if lacking := [k for k in keys if k not in row]:
            raise ValueError(f"results[{name!r}] row {dict(row)} lacks {lacking}")
    rows = sorted(rows, key=lambda r: r["layer"])
    table = {k: np.asarray([r[k] for r in rows], dtype=float) for k in keys}
    table["chance"] = np.asarray([r.get("chance", np.nan) for r in rows], dtype=float)
    return table


@_styled
def probe_curves(results: Mapping[str, Sequence[Mapping]], out_stem: Path, *, pair: str | None = None) -> Paths:
    """Plot probe accuracy per layer with 95% CI, control task and chance; return the PNG and SVG paths.

    Parameters
    ----------
    results
        Checkpoint name -> one mapping per layer with keys ``layer, accuracy, ci_low, ci_high,
        control_accuracy`` and optionally ``chance``.
    out_stem
        Output path without suffix.
    pair
        What the probe separates (e.g. ``"red cube vs red sphere"``), for the title.
    """
    if not results:
        raise ValueError("results is empty: pass at least one checkpoint")
    tables = {name: _probe_table(name, rows) for name, rows in results.items()}
    colours = dict(zip(tables, _palette(len(tables))))
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, t in tables.items():
        ax.fill_between(t["layer"], t["ci_low"], t["ci_high"], color=colours[name], alpha=0.2, lw=0)
        ax.plot(t["layer"], t["accuracy"], marker="o", ms=3, lw=1.8, color=colours[name])
        ax.plot(t["layer"], t["control_accuracy"], ls="--", lw=1.2, color=colours[name], alpha=0.8)
    # a shared chance line is grey; if the checkpoints' chance levels differ, each is in its own colour
    chances = {n: t for n, t in tables.items() if np.isfinite(t["chance"]).any()}
    shared = len({np.stack([t["layer"], t["chance"]]).round(6).tobytes() for t in chances.values()}) == 1
    for name, t in chances.items():
        ax.plot(t["layer"], t["chance"], ls=":", lw=1.5, color="0.45" if shared else colours[name])
    ax.set(ylim=(0, 1.02), ylabel="probe accuracy", title=f"Linear probe: {pair}" if pair else "Linear probe accuracy")
    _layer_axis(ax, int(max(t["layer"].max() for t in tables.values())) + 1)
    ax.grid(alpha=0.3)
    handles: list[Any] = [Line2D([], [], color=colours[n], lw=1.8, marker="o", ms=3, label=n) for n in tables]
    handles.append(Patch(color="0.5", alpha=0.3, label="95% CI"))
    handles.append(Line2D([], [], color="0.2", ls="--", lw=1.2, label="control task"))
    if chances:
        handles.append(Line2D([], [], color="0.45", ls=":", lw=1.5, label="chance"))
    ax.legend(handles=handles, loc="lower right")
    return _save(fig, out_stem)


def _attribution_scale(maps: Mapping[str, np.ndarray]) -> tuple[Normalize, Colormap, bool]:
    """One colour scale for all maps: symmetric and diverging around 0 when any value is negative."""
    values = np.concatenate([np.asarray(m, dtype=float).ravel() for m in maps.values()])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("attribution maps hold no finite values")
    if values.min() < 0:
        vmax = float(np.abs(values).max())
        return Normalize(-vmax, vmax), matplotlib.colormaps["RdBu_r"], True
    low, high = float(values.min()), float(values.max())
    # light to dark red: the strongest regions get the most contrast on the light backdrop
    return Normalize(low, high if high > low else low + 1.0), matplotlib.colormaps["Reds"], False


def _overlay_rgba(amap: np.ndarray, norm: Normalize, cmap: Colormap, diverging: bool) -> np.ndarray:
    """Colour the map, opacity growing with strength, so unattributed regions leave the image visible."""
    scaled = np.clip(np.asarray(norm(np.asarray(amap, dtype=float))), 0.0, 1.0)  # (h, w) in [0, 1]
    rgba = cmap(scaled)  # (h, w, 4)
    # square root: weak but real attributions stay visible instead of fading twice (pale colour, low alpha)
    rgba[..., 3] = np.nan_to_num(0.85 * np.sqrt(np.abs(2 * scaled - 1) if diverging else scaled))
    return rgba


@_styled
def attribution_overlays(
    image: Image.Image, maps: Mapping[str, np.ndarray], out_stem: Path, *, title: str | None = None
) -> Paths:
    """Plot the image, then each checkpoint's attribution map over it; return the PNG and SVG paths.

    Parameters
    ----------
    image
        The input image.
    maps
        Checkpoint name -> (h, w) attribution on any grid (e.g. the patch grid), stretched over the
        whole image with nearest-neighbour sampling so patch boundaries stay visible. With any negative
        value the scale is symmetric around zero (blue negative, red positive).
    out_stem
        Output path without suffix.
    title
        Figure title.
    """
    if not maps or any(np.ndim(m) != 2 for m in maps.values()):
        raise ValueError(f"maps needs one (h, w) array per checkpoint; got {[np.shape(m) for m in maps.values()]}")
    norm, cmap, diverging = _attribution_scale(maps)
    width, height = image.size
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # the pixel-centred extent imshow gives the image
    # a light grey copy underneath, so the heat map's colours cannot be mistaken for the image's own
    backdrop = 0.4 * np.asarray(image.convert("L"), dtype=float) / 255 + 0.6  # (H, W) in [0.6, 1]
    n = len(maps) + 1
    fig = Figure(figsize=(3.2 * n + 1.2, 3.2 * height / width + 0.9), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    axes[0].imshow(np.asarray(image.convert("RGB")))
    axes[0].set_title("image")
    for ax, (name, amap) in zip(axes[1:], maps.items()):
        ax.imshow(backdrop, cmap="gray", vmin=0, vmax=1)
        ax.imshow(_overlay_rgba(amap, norm, cmap, diverging), extent=extent, interpolation="nearest")
        ax.set_title(name)
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(ScalarMappable(norm, cmap), ax=list(axes), shrink=0.85, label="attribution")
    if title:
        fig.suptitle(title)
    return _save(fig, out_stem)
