"""PDF reports (WeasyPrint) and the charts inside them (Matplotlib → SVG), with the CJK font.

A fresh machine has no Chinese font; the platform brings Noto Sans SC as a wheel and gives it to
both WeasyPrint (``@font-face``) and Matplotlib (text drawn as paths, so the PDF needs no font for
the charts). Without Pango, which WeasyPrint needs from the system, the error says what to install.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from qiantang.errors import QiantangError


class PdfUnavailable(QiantangError):
    status_code = 503


@cache
def cjk_font_path() -> Path:
    import pylopdf_fonts_zh_cn

    return pylopdf_fonts_zh_cn.sans_path()


def _font_css() -> str:
    return (
        f'@font-face {{ font-family: "Qiantang CJK"; src: url("{cjk_font_path().as_uri()}"); }}\n'
        'html { font-family: "Qiantang CJK", sans-serif; }\n'
        '@page { font-family: "Qiantang CJK", sans-serif; }\n'
    )


def _layout(html: str, *, base_url: str | None = None):
    try:
        from weasyprint import CSS, HTML
        from weasyprint.text.fonts import FontConfiguration
    except OSError as exc:  # Pango or its friends missing from the system
        raise PdfUnavailable(
            "生成 PDF 需要系统库 Pango（Debian：apt-get install libpango-1.0-0 libpangoft2-1.0-0）",
            message_en=f"PDF needs the Pango system library ({exc})",
        ) from None
    # @font-face in a stylesheet given here needs one FontConfiguration shared with write_pdf.
    fonts = FontConfiguration()
    css = CSS(string=_font_css(), font_config=fonts)
    return HTML(string=html, base_url=base_url).render(stylesheets=[css], font_config=fonts)


def render_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """HTML → PDF with the platform's CJK font."""
    return _layout(html, base_url=base_url).write_pdf()


def layout_overflows(html: str, *, tolerance_pt: float = 1.0) -> list[str]:
    """Text or boxes of a PDF that stick out of their parent box (a cell, the page's margins).

    For tests of every PDF: a table column too narrow for its header, a badge covering the next
    column or a table wider than the page all show up here, named by their text.
    """
    document = _layout(html)
    found: list[str] = []

    def text_of(box) -> str:
        text = getattr(box, "text", None)
        if text:
            return text
        inner = "".join(text_of(c) for c in getattr(box, "children", ()))[:40]
        return inner or type(box).__name__.removesuffix("Box").lower()

    def walk(box, right_limit: float, page_number: int) -> None:
        for child in getattr(box, "children", ()):
            if getattr(child, "position_x", None) is None or not hasattr(child, "margin_width"):
                continue
            right = child.position_x + child.margin_width() - child.margin_right
            if right > right_limit + tolerance_pt:
                found.append(f"第 {page_number} 页：“{text_of(child)}”超出 {right - right_limit:.1f}pt")
                continue
            limit = child.content_box_x() + child.width if hasattr(child, "content_box_x") else right_limit
            # Inline content may use its own padding; a cell's content is limited by its border box.
            if type(child).__name__ in ("TableCellBox",):
                limit = child.position_x + child.margin_width() - child.margin_right
            walk(child, max(limit, 0) if limit else right_limit, page_number)

    for number, page in enumerate(document.pages, start=1):
        root = page._page_box
        content_right = root.margin_left + root.padding_left + root.border_left_width + root.width
        for child in root.children:
            if type(child).__name__ == "MarginBox":
                continue
            walk(child, content_right, number)
    return found


@cache
def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font_manager.fontManager.addfont(str(cjk_font_path()))
    name = font_manager.FontProperties(fname=str(cjk_font_path())).get_name()
    plt.rcParams.update(
        {
            "font.family": [name, "DejaVu Sans"],
            "axes.unicode_minus": False,
            "svg.fonttype": "path",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 9,
        }
    )
    return plt


def line_chart_img(
    *,
    title: str,
    series: Sequence[tuple[str, Sequence[float | None], dict]],
    years: Sequence[int],
    unit: str,
    width_in: float = 6.0,
    height_in: float = 2.4,
    dpi: int = 120,
) -> str:
    """A small line chart as an ``<img>`` (PNG, data URI); ``series`` holds (label, values, style).

    PNG rather than SVG: with Chinese text drawn as paths (the PDF has no font for SVG text), an
    SVG chart carries ~50 kB of glyph outlines, and laying out twenty of them made the plan report
    take 5–12 s in WeasyPrint; a 120 dpi PNG prints sharply enough on A4 and the report takes < 2 s.
    """
    import base64

    plt = _matplotlib()
    # Fixed margins instead of tight_layout, which draws the figure a second time to measure it.
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.86, bottom=0.12)
    for label, values, style in series:
        xs = [y for y, v in zip(years, values, strict=True) if v is not None]
        ys = [v for v in values if v is not None]
        if xs:
            ax.plot(xs, ys, label=label, **style)
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel(unit)
    ax.set_xticks(list(years))
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="chart-img" alt="{_attr(title)}" src="data:image/png;base64,{data}">'


def _attr(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
