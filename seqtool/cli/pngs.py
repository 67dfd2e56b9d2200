"""PNG figures through matplotlib, the optional extra ``seqtool[plot]``: check it is there, get pyplot, save a figure."""
from __future__ import annotations

import io

from seqtool.errors import OutputError


def require_matplotlib(option: str, instead: str) -> None:
    """Before any work: ``option`` needs matplotlib; one line saying how to install it (or what to do ``instead``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OutputError(f"{option} needs matplotlib, which is not installed: pip install 'seqtool[plot]' (or {instead})") from None


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: int = 110) -> bytes:
    """``fig`` as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    return buf.getvalue()
