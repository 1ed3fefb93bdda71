"""The one table writer behind every table medenoise prints or saves (bench results, study
reports, `evaluate`): cells arrive as strings, formatted by the caller."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    rule: str = " --- ",
    align: Sequence[str] | None = None,
    widths: Sequence[int] | None = None,
    plain: bool = False,
) -> str:
    """A table as text, without a final newline.

    Markdown (default): `| a | b |` lines with `rule` as each separator cell (" --- " or
    "---"). `widths` pads every cell to its column's width, to the left ('<') or right ('>')
    as `align` says (default '<'). `plain`: no pipes, cells joined by spaces under a dash
    line as long as the header (terminal output); a short row simply ends early.
    """
    sides = list(align) if align is not None else ["<"] * len(headers)

    def line(cells: Sequence[str]) -> list[str]:
        if widths is None:
            return list(cells)
        return [_pad(c, w, a) for c, w, a in zip(cells, widths, sides, strict=False)]

    if plain:
        head = " ".join(line(headers))
        return "\n".join([head, "-" * len(head), *(" ".join(line(r)) for r in rows)])
    lines = [
        "| " + " | ".join(line(headers)) + " |",
        "|" + "|".join(rule for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(line(r)) + " |" for r in rows]
    return "\n".join(lines)


def _pad(text: str, width: int, side: str) -> str:
    """`text` padded with spaces to `width` on the side `side` ('<': left-aligned)."""
    return text.rjust(width) if side == ">" else text.ljust(width)
