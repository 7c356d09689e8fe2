"""A4 pages stacked from blocks (text, graphs, tables), saved as one PNG and a multi-page PDF.

Drawing uses matplotlib's object API (``Figure``, Agg canvas): no display, no global state.
"""

from __future__ import annotations

import io
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.image as mpimg
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from finemotor.errors import FinemotorError

PAGE_W_IN = 8.27
PAGE_H_IN = 11.69
MARGIN_IN = 0.5
ROW_IN = 0.21
TITLE_IN = 0.3
DPI = 100
FONT = 7.5
LITERAL_TEXT: dict[Any, Any] = {"text.parse_math": False, "text.usetex": False}
"""Matplotlib settings under which every string is drawn literally."""


@dataclass
class Block:
    """A piece of a page: ``draw(axes)`` fills an axes ``height_in`` tall, less ``inset_in``
    (left, bottom, right, top: room for tick labels and titles drawn outside the axes)."""

    height_in: float
    draw: Callable[[Axes], None]
    inset_in: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def text_block(lines: Sequence[str], size: float = 9.0, color: str = "black") -> Block:
    """Lines of text, wrapped to the page width."""
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, 110 if size < 9 else 95) or [""]
    height = 0.06 + len(wrapped) * size * 1.45 / 72.0

    def draw(ax: Axes) -> None:
        ax.axis("off")
        ax.text(
            0.0,
            1.0,
            "\n".join(wrapped),
            va="top",
            ha="left",
            fontsize=size,
            color=color,
            transform=ax.transAxes,
        )

    return Block(height, draw)


CELL_CHARS = 60
"""Longest line in a table cell; longer text (a therapist's mark) wraps onto more lines."""


def _wrap_cell(text: object) -> str:
    return "\n".join(textwrap.wrap(str(text), CELL_CHARS, break_on_hyphens=False) or [""])


def table_blocks(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], max_rows: int = 40
) -> list[Block]:
    """A titled table, split into blocks of at most ``max_rows`` rows; long cells wrap."""
    if not rows:
        return [text_block([f"{title}: none"], size=9.5)]
    cells = [[_wrap_cell(c) for c in r] for r in rows]
    widths = [
        max(len(str(c)), *(len(line) for r in cells for line in r[i].split("\n"))) + 2
        for i, c in enumerate(columns)
    ]
    total = float(sum(widths))
    col_w = [w / total for w in widths]
    out = []
    for k in range(0, len(cells), max_rows):
        part = cells[k : k + max_rows]
        lines = [max(c.count("\n") + 1 for c in r) for r in part]
        name = title if k == 0 else f"{title} (continued)"
        height = TITLE_IN + ROW_IN * (sum(lines) + 1)
        out.append(Block(height, _table_drawer(name, columns, part, lines, col_w, height)))
    return out


def _table_drawer(
    title: str,
    columns: Sequence[str],
    rows: list[list[str]],
    lines: list[int],
    col_w: list[float],
    height_in: float,
) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        ax.axis("off")
        table_h = 1.0 - TITLE_IN / height_in
        ax.text(0.0, 1.0, title, va="top", ha="left", fontsize=10.0, transform=ax.transAxes)
        tab = ax.table(
            cellText=rows,
            colLabels=list(columns),
            colWidths=col_w,
            cellLoc="left",
            bbox=Bbox.from_bounds(0.0, 0.0, 1.0, table_h),
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(FONT)
        for (r, _), cell in tab.get_celld().items():
            cell.set_linewidth(0.3)
            if r == 0:
                cell.set_facecolor("0.9")
                cell.set_text_props(weight="bold")
            else:  # rows as tall as their lines (the bbox scales them all alike)
                cell.set_height(cell.get_height() * lines[r - 1])

    return draw


def layout(blocks: Sequence[Block], gap_in: float = 0.15) -> list[Figure]:
    """Place the blocks top to bottom on A4 pages, starting a page when one does not fit.

    Text is drawn as typed: ``$`` does not start mathtext (a therapist's mark or a note is
    never parsed as a formula)."""
    with matplotlib.rc_context(LITERAL_TEXT):
        return _layout(blocks, gap_in)


def _layout(blocks: Sequence[Block], gap_in: float) -> list[Figure]:
    usable = PAGE_H_IN - 2 * MARGIN_IN
    pages: list[list[Block]] = [[]]
    used = 0.0
    for b in blocks:
        if pages[-1] and used + b.height_in > usable:
            pages.append([])
            used = 0.0
        pages[-1].append(b)
        used += b.height_in + gap_in
    figures = []
    for n, page in enumerate(pages, start=1):
        fig = Figure(figsize=(PAGE_W_IN, PAGE_H_IN), dpi=DPI)
        FigureCanvasAgg(fig)
        top = PAGE_H_IN - MARGIN_IN
        for b in page:
            h = min(b.height_in, usable)
            left, bottom, right, head = b.inset_in
            rect = (
                (MARGIN_IN + left) / PAGE_W_IN,
                (top - h + bottom) / PAGE_H_IN,
                (PAGE_W_IN - 2 * MARGIN_IN - left - right) / PAGE_W_IN,
                (h - bottom - head) / PAGE_H_IN,
            )
            b.draw(fig.add_axes(rect))
            top -= h + gap_in
        fig.text(0.5, 0.015, f"page {n}/{len(pages)}", ha="center", fontsize=7, color="0.4")
        figures.append(fig)
    return figures


def save(figures: Sequence[Figure], png: Path, pdf: Path | None) -> list[Path]:
    """Write the pages as one PNG (pages one below the other) and, if asked, a PDF.

    Raises:
        FinemotorError: the files cannot be written (the message names the folder).
    """
    try:
        with warnings.catch_warnings():
            # A script the font lacks is drawn as boxes: the text stays in the recording.
            warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
            return _save(figures, png, pdf)
    except OSError as exc:
        raise FinemotorError(
            f"cannot write the report into {png.parent}: {exc}; choose another folder for it"
        ) from exc


def _save(figures: Sequence[Figure], png: Path, pdf: Path | None) -> list[Path]:
    png.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="rgba", dpi=DPI)
        w, h = fig.canvas.get_width_height()
        images.append(np.frombuffer(buf.getvalue(), np.uint8).reshape(h, w, 4)[..., :3])
    mpimg.imsave(png, np.vstack(images), format="png", metadata={"Software": "finemotor"})
    written = [png]
    if pdf is not None:
        with PdfPages(pdf, metadata={"Creator": "finemotor", "Producer": "finemotor"}) as doc:
            for fig in figures:
                doc.savefig(fig)
        written.append(pdf)
    return written
