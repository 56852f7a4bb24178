#!/usr/bin/env python3
"""Plots load-tests/bench-proxy.sh's JSON as an SVG (standard library only): requests per
second per target for each load tool, and wrk's p50/p90/p99 latency per target.

Usage: plot_proxy.py RESULTS.json OUT.svg
"""

import json
import sys
from html import escape

COLORS = {
    "direct": "#7f7f7f",
    "haproxy": "#1f77b4",
    "nginx": "#2ca02c",
    "mixer-reports-off": "#ff9896",
    "mixer-reports-on": "#d62728",
    "mixer-reports-checks": "#9467bd",
}


def bars(x0, y0, w, h, title, groups, unit):
    """One bar chart: groups = [(group label, [(series, value)])]."""
    out = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    top = max((v for _, s in groups for _, v in s), default=1.0) * 1.12 or 1.0
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>')
    gw = w / max(len(groups), 1)
    for gi, (label, series) in enumerate(groups):
        bw = (gw - 16) / max(len(series), 1)
        for si, (name, value) in enumerate(series):
            bh = h * value / top
            x = x0 + gi * gw + 8 + si * bw
            y = y0 + h - bh
            color = COLORS.get(name, "#bcbd22")
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="{color}">'
                f"<title>{escape(name)}: {value:,.2f} {unit}</title></rect>"
            )
            text = f"{value / 1000:.1f}k" if unit == "req/s" else f"{value:.2f}"
            out.append(
                f'<text x="{x + (bw - 2) / 2:.1f}" y="{y - 3:.1f}" font-size="9" text-anchor="middle">{text}</text>'
            )
        out.append(
            f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 14}" text-anchor="middle">{escape(label)}</text>'
        )
    out.append(f'<text x="{x0 - 6}" y="{y0 + 4}" text-anchor="end" font-size="10">{escape(unit)}</text>')
    return out


def main():
    data = json.load(open(sys.argv[1]))
    rows = data["rows"]
    targets = []
    for r in rows:
        if r["target"] not in targets:
            targets.append(r["target"])
    tools = []
    for r in rows:
        if r["tool"] not in tools:
            tools.append(r["tool"])

    rate_groups = [
        (tool, [(r["target"], r["rps"]) for r in rows if r["tool"] == tool]) for tool in tools
    ]
    lat_groups = []
    for pct in ("p50", "p90", "p99"):
        series = [
            (r["target"], float(r[pct])) for r in rows if r["tool"] == "wrk" and r[pct] not in ("", None)
        ]
        lat_groups.append((f"wrk {pct}", series))

    width, height = 900, 620
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">'
        f'An ok API direct and through one hop (commit {escape(data["commit"])}, {escape(data["date"])})</text>',
    ]
    svg += bars(70, 60, 800, 210, "throughput (higher is better)", rate_groups, "req/s")
    svg += bars(70, 340, 800, 210, "latency, wrk (lower is better)", lat_groups, "ms")
    x = 70
    for t in targets:
        svg.append(f'<rect x="{x}" y="585" width="12" height="12" fill="{COLORS.get(t, "#bcbd22")}"/>')
        svg.append(f'<text x="{x + 16}" y="595">{escape(t)}</text>')
        x += 20 + 7 * len(t) + 20
    svg.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
