"""Study reports: markdown tables and one self-contained HTML file.

The HTML report is meant to be mailed, attached to an issue or opened from an archive years
later, so it carries everything inside itself: figures are embedded as base64 ``data:`` URIs,
CSS is inline, there is no JavaScript and no external URL. Every report ends with the metrics
protocol (papers define PSNR / SSIM differently: peak, data range, SSIM window), the exact
configuration and the software versions, so its numbers can be traced and reproduced.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import importlib.metadata
import math
import os
import platform
import tempfile
from numbers import Integral, Real
from pathlib import Path

from medenoise.tables import markdown_table as markdown_table_text

MISSING = "\u2013"
"""Shown for a missing or NaN cell (an en dash)."""

PACKAGES = ("medenoise", "torch", "numpy", "scikit-image", "matplotlib", "bm3d")
"""Distributions whose versions every report records (after Python itself)."""

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; }
th, td { border: 1px solid #bbb; padding: .25em .6em; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #e6f4e6; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
.missing { color: #a00; }
.protocol { white-space: pre-wrap; }
"""


def software_versions() -> dict[str, str]:
    """Versions of Python and of :data:`PACKAGES` ('not installed' when absent), via
    importlib.metadata so nothing heavy (torch) is imported just to print a version."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _is_number(value) -> bool:
    """True for ints and floats (numpy scalars included), False for bools and strings."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _cell(value, floatfmt: str) -> str:
    """Plain-text cell: floats formatted, None / NaN as :data:`MISSING`, the rest str()."""
    if value is None:
        return MISSING
    if _is_number(value) and not isinstance(value, Integral):
        f = float(value)
        if math.isnan(f):
            return MISSING
        if not math.isfinite(f):
            return str(f)
        text = format(f, floatfmt)
        # '-0.00' reads as a loss; a value that rounds to zero shows unsigned
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return str(value)


def markdown_table(rows: list[dict], columns: list[str], floatfmt: str = ".2f") -> str:
    """GitHub-markdown table of ``rows`` restricted to ``columns`` (in that order).

    Floats use ``floatfmt``; missing keys, None and NaN show as an en dash; '|' in a cell is
    escaped and newlines become spaces so one row stays one line.
    """

    def clean(text: str) -> str:
        return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    cells = [[clean(_cell(row.get(c), floatfmt)) for c in columns] for row in rows]
    return markdown_table_text([clean(str(c)) for c in columns], cells) + "\n"


def _best_columns(table: dict, rows: list[dict], columns: list[str]) -> dict[str, str]:
    """{column: 'max' | 'min'} of the columns whose best value gets highlighted.

    Explicit via table['higher_better'] / table['lower_better']; by default every numeric
    column named like a quality metric (psnr, ssim: higher is better).
    """
    higher = table.get("higher_better")
    lower = table.get("lower_better") or []
    if higher is None:
        higher = [
            c
            for c in columns
            if ("psnr" in c.lower() or "ssim" in c.lower())
            and any(_is_number(r.get(c)) for r in rows)
        ]
    best = {c: "max" for c in higher}
    best.update({c: "min" for c in lower})
    return best


def _html_table(table: dict) -> str:
    """HTML for one section table: every cell escaped, numbers right-aligned, best bolded."""
    rows: list[dict] = list(table.get("rows") or [])
    columns: list[str] = list(table.get("columns") or (list(rows[0]) if rows else []))
    fmt = table.get("floatfmt", ".2f")
    best_value = {}
    for col, mode in _best_columns(table, rows, columns).items():
        values = [float(r[col]) for r in rows if _is_number(r.get(col))]
        values = [v for v in values if not math.isnan(v)]
        if values:
            best_value[col] = max(values) if mode == "max" else min(values)
    out = ["<table>", "<thead><tr>"]
    out += [f"<th>{html.escape(str(c))}</th>" for c in columns]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for col in columns:
            value = row.get(col)
            col_fmt = fmt.get(col, ".2f") if isinstance(fmt, dict) else fmt
            classes = []
            if _is_number(value):
                classes.append("num")
                if col in best_value and float(value) == best_value[col]:
                    classes.append("best")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            out.append(f"<td{attr}>{html.escape(_cell(value, col_fmt))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _html_figure(figure: dict) -> str:
    """<figure> with the image embedded as a base64 data: URI; a missing file becomes a
    visible note instead of a broken link, so one failed plot does not lose the whole report."""
    path = Path(figure["path"])
    caption = html.escape(str(figure.get("caption", "")))
    if not path.is_file():
        note = f"missing figure: {html.escape(path.name)}"
        return f'<figure><p class="missing">{note}</p><figcaption>{caption}</figcaption></figure>'
    mime = _MIME.get(path.suffix.lower(), "image/png")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(str(figure.get("caption") or path.stem), quote=True)
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{alt}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _html_protocol(protocol) -> str:
    """The metrics protocol: a string as one paragraph, a {metric: description} dict
    (e.g. :data:`medenoise.eval.metrics.PROTOCOL`) as a definition list."""
    if isinstance(protocol, dict):
        items = "".join(
            f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>"
            for k, v in protocol.items()
        )
        return f"<dl>{items}</dl>"
    return f'<p class="protocol">{html.escape(str(protocol))}</p>'


def write_report(
    outdir: Path,
    title: str,
    sections: list[dict],
    config_text: str,
    protocol: str | dict[str, str],
    versions: dict[str, str] | None = None,
) -> Path:
    """Write ``outdir/report.html``, self-contained, and return its path.

    Each section is {'heading': str, 'text': optional paragraph, 'table': optional
    {'rows', 'columns', optional 'floatfmt' (str or {column: fmt}), 'higher_better',
    'lower_better'}, 'figures': optional [{'path': PNG, 'caption': str}]}. After the sections
    come Protocol, Configuration (``config_text`` verbatim in <pre>) and Software
    (``versions`` or :func:`software_versions`, plus the generation time). All text is
    HTML-escaped. Written to a temp file then os.replace'd, so a reader never sees half a file.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    versions = software_versions() if versions is None else versions
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>"]
    for section in sections:
        body.append(f"<section><h2>{esc(str(section.get('heading', '')))}</h2>")
        if section.get("text"):
            body.append(f"<p>{esc(str(section['text']))}</p>")
        if section.get("table"):
            body.append(_html_table(section["table"]))
        body += [_html_figure(fig) for fig in section.get("figures") or []]
        body.append("</section>")
    body.append(f"<section><h2>Protocol</h2>{_html_protocol(protocol)}</section>")
    body.append(f"<section><h2>Configuration</h2><pre>{esc(config_text)}</pre></section>")
    version_rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>" for k, v in versions.items()
    )
    body.append(
        "<section><h2>Software</h2>"
        f"<table><thead><tr><th>package</th><th>version</th></tr></thead>"
        f"<tbody>{version_rows}</tbody></table>"
        f"<p>Generated {esc(now)}.</p></section>"
    )
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    target = outdir / "report.html"
    fd, tmp = tempfile.mkstemp(dir=outdir, prefix=".report-", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(document)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
