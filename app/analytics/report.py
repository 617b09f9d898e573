"""The weekly operations report (积分运营周报): a business week against the week before, as
HTML with its charts embedded and as CSV. Charts are drawn with matplotlib's Agg backend (no
display needed)."""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to memory, never to a screen

from matplotlib.figure import Figure

from app.analytics.kpis import Kpis, RedeemedItem

TOP_ITEMS = 10
Value = int | Decimal | None


def previous_week(today: date) -> date:
    """The Monday of the business week before ``today``'s."""
    return today - timedelta(days=today.weekday() + 7)


@dataclass(frozen=True)
class Row:
    figure: str
    this_week: Value
    last_week: Value

    @property
    def change(self) -> Decimal | None:
        """The relative change from last week; None when last week had nothing to compare."""
        if self.this_week is None or not self.last_week:
            return None
        difference = Decimal(self.this_week) - Decimal(self.last_week)
        return (difference / Decimal(self.last_week)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class WeeklyReport:
    week_start: date
    rows: list[Row]
    top_items: list[RedeemedItem]
    html: str
    csv: str


def _figures(k: Kpis) -> list[tuple[str, Value]]:
    """The report's figures of one week (``k``: the week as one bucket)."""
    t = k.totals
    return [
        ("new members", t.new_members),
        ("members", k.members),
        ("active members", k.buckets[0].active_members),
        ("points issued", t.issued),
        *((f"issued: {s}", v) for s, v in t.issued_by_source.items()),
        ("points redeemed", t.redeemed),
        *((f"redeemed: {u}", v) for u, v in t.redeemed_by_use.items()),
        ("points expired", t.expired),
        ("points clawed back", t.clawed_back),
        ("points returned", t.returned),
        ("points outstanding", k.outstanding),
        ("liability (CNY)", k.liability),
        ("consumption rate", k.consumption_rate),
        ("redemption rate", k.redemption_rate),
        ("breakage rate", k.breakage_rate),
        ("member sales (CNY)", k.member_sales),
        ("points ROI", k.points_roi),
        ("sign-ins", t.signins),
        ("mean streak", t.mean_streak),
    ]


def compare(this: Kpis, last: Kpis) -> list[Row]:
    return [
        Row(name, value, before)
        for (name, value), (_, before) in zip(_figures(this), _figures(last), strict=True)
    ]


def _text(value: Value) -> str:
    return "" if value is None else str(value)


def render_csv(report_rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["figure", "this_week", "last_week", "change"])
    for row in report_rows:
        writer.writerow([row.figure, _text(row.this_week), _text(row.last_week), _text(row.change)])
    return buffer.getvalue()


def _png(draw: Callable[[Figure], None]) -> str:
    figure = Figure(figsize=(7, 3), dpi=100)
    draw(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _daily_chart(this_days: Kpis, last_days: Kpis) -> str:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        labels = [b.start.strftime("%a") for b in this_days.buckets]
        xs = range(len(labels))
        width = 0.2
        series = [
            ("issued", [b.flows.issued for b in this_days.buckets], 0),
            ("redeemed", [b.flows.redeemed for b in this_days.buckets], 1),
            ("issued last week", [b.flows.issued for b in last_days.buckets], 2),
            ("redeemed last week", [b.flows.redeemed for b in last_days.buckets], 3),
        ]
        for label, values, n in series:
            axes.bar([x + (n - 1.5) * width for x in xs], values, width, label=label)
        axes.set_xticks(list(xs), labels)
        axes.set_title("Points issued and redeemed per day")
        axes.legend(fontsize="small")

    return _png(draw)


def _outstanding_chart(this_days: Kpis, last_days: Kpis) -> str:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        days = last_days.buckets + this_days.buckets
        axes.plot([b.start.isoformat()[5:] for b in days], [b.outstanding for b in days])
        axes.set_title("Points outstanding at each day's end, two weeks")
        axes.tick_params(axis="x", labelrotation=45, labelsize="small")

    return _png(draw)


def render_html(
    week_start: date, report_rows: list[Row], items: list[RedeemedItem], charts: list[str]
) -> str:
    end = week_start + timedelta(days=6)
    table = "\n".join(
        f"<tr><td>{html.escape(r.figure)}</td><td>{_text(r.this_week)}</td>"
        f"<td>{_text(r.last_week)}</td><td>{_text(r.change)}</td></tr>"
        for r in report_rows
    )
    top = "\n".join(
        f"<tr><td>{html.escape(i.code)}</td><td>{html.escape(i.name)}</td>"
        f"<td>{i.quantity}</td><td>{i.points}</td></tr>"
        for i in items
    )
    images = "\n".join(f'<img alt="chart" src="data:image/png;base64,{png}">' for png in charts)
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>积分运营周报 {week_start}</title></head>
<body>
<h1>积分运营周报 — {week_start} to {end}</h1>
<table border="1"><tr><th>figure</th><th>this week</th><th>last week</th><th>change</th></tr>
{table}
</table>
<h2>Top redeemed items</h2>
<table border="1"><tr><th>code</th><th>name</th><th>quantity</th><th>points</th></tr>
{top}
</table>
{images}
</body></html>
"""


def build(
    week_start: date,
    this: Kpis,
    last: Kpis,
    this_days: Kpis,
    last_days: Kpis,
    items: list[RedeemedItem],
) -> WeeklyReport:
    report_rows = compare(this, last)
    charts = [_daily_chart(this_days, last_days), _outstanding_chart(this_days, last_days)]
    return WeeklyReport(
        week_start=week_start,
        rows=report_rows,
        top_items=items,
        html=render_html(week_start, report_rows, items, charts),
        csv=render_csv(report_rows),
    )
