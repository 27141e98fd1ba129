"""Cooperation statistics for liaison prosecutors and admins: JSON, CSV and a chart.

``?from=&to=`` (RFC 3339 UTC, default: the last 90 days) and ``?by=peer|country``.
The chart is server-rendered SVG (no script): the median time to answer our
requests, per group, with the 90th percentile as a thin bar behind it.
"""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

from aiohttp import web

from ...core import roles
from ...core.stats import FIELDS, GroupStats, as_row
from ...service import stats
from ...service.sessions import User
from ..appkeys import NODE_KEY
from ..auth import requires

routes = web.RouteTableDef()


async def compute(request: web.Request) -> tuple[dict[str, str], list[GroupStats]]:
    node = request.app[NODE_KEY]
    q = request.query
    wanted = stats.period(node, q.get("from"), q.get("to"), q.get("by"))
    return wanted.to_json(), await stats.statistics(node, wanted)


@routes.get("/api/stats")
@requires(*roles.STATISTICS)
async def api_stats(request: web.Request, user: User) -> web.Response:
    period, rows = await compute(request)
    return web.json_response({**period, "rows": [as_row(r) for r in rows]})


@routes.get("/api/stats.csv")
@requires(*roles.STATISTICS)
async def api_stats_csv(request: web.Request, user: User) -> web.Response:
    period, rows = await compute(request)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else _cell(v) for k, v in as_row(row).items()})
    name = f"exchange-stats-{period['by']}-{period['from'][:10]}-{period['to'][:10]}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(value: object) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    # a spreadsheet must never read a cell as a formula (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@routes.get("/api/stats.svg")
@requires(*roles.STATISTICS)
async def api_stats_svg(request: web.Request, user: User) -> web.Response:
    period, rows = await compute(request)
    return web.Response(
        text=render_chart([r for r in rows if r.direction == "out"], period),
        content_type="image/svg+xml",
    )


def render_chart(rows: list[GroupStats], period: dict[str, str]) -> str:
    """Horizontal bars: median (dark) and 90th percentile (light) hours to answer."""
    width, left, bar, gap = 640, 170, 18, 10
    height = 50 + max(len(rows), 1) * (bar + gap)
    scale_max = max((r.answer_p90_s or r.answer_p50_s or 0 for r in rows), default=0) / 3600
    scale = (width - left - 90) / scale_max if scale_max else 0
    title = f"Time to answer our requests, {period['from'][:10]} to {period['to'][:10]} (hours)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="10" y="20" font-family="sans-serif" font-size="14">{escape(title)}</text>',
    ]
    if not rows:
        parts.append('<text x="10" y="50" font-family="sans-serif" font-size="13">No data</text>')
    for i, r in enumerate(rows):
        y = 36 + i * (bar + gap)
        p50 = (r.answer_p50_s or 0) / 3600
        p90 = (r.answer_p90_s or 0) / 3600
        label = f"{r.group} ({r.requests})"
        value = f"{p50:.1f} h / {p90:.1f} h" if r.answered else "no answers"
        parts += [
            f'<text x="10" y="{y + 13}" font-family="sans-serif" font-size="13">'
            f"{escape(label)}</text>",
            f'<rect x="{left}" y="{y}" width="{p90 * scale:.1f}" height="{bar}" fill="#9ecae1"/>',
            f'<rect x="{left}" y="{y + 4}" width="{p50 * scale:.1f}" height="{bar - 8}" '
            'fill="#08519c"/>',
            f'<text x="{left + p90 * scale + 6:.1f}" y="{y + 13}" font-family="sans-serif" '
            f'font-size="12">{escape(value)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)
