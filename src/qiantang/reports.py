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


def render_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """HTML → PDF with the platform's CJK font."""
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
    return HTML(string=html, base_url=base_url).write_pdf(stylesheets=[css], font_config=fonts)


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


def line_chart_svg(
    *,
    title: str,
    series: Sequence[tuple[str, Sequence[float | None], dict]],
    years: Sequence[int],
    unit: str,
    width_in: float = 6.0,
    height_in: float = 2.4,
) -> str:
    """A small line chart as inline SVG; ``series`` holds (label, values by year, matplotlib style)."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=100)
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
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
