"""A supervision report (``reports.supervision``) as CSV, as an HTML page an operator prints for the
periodic circular (定期通报), and as PDF — the same numbers in each.

The HTML page stands alone: charts are inline SVG, styles inline, no script and no web font (city
networks are offline); fonts are the reader's own CJK fonts by name. Print CSS puts it on A4.

The PDF is drawn with fpdf2 in the service itself, with the CJK font the Makefile installs
(WenQuanYi Micro Hei): no browser process in the archive (Chromium's print-to-PDF would mean a
300 MB process per export, a sandbox to run as root, and its own fonts), and the same report dict
gives the same figures in every format. Each chart has its own colours (``COLOURS``), so a
screenshot shows which chart was drawn."""
import csv
import html
import io
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF

from .reports import OUTCOMES, URGENCIES

FONT = os.environ.get("GONGWEN_CJK_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LABELS = {"signed_on_time": "按时签收", "signed_late": "逾期签收", "never_signed": "未签收", "pending": "未到期",
          "returned": "退回", "paper_served": "纸质送达", "withdrawn": "撤回/关闭"}
URGENCY_LABELS = {"normal": "平急", "urgent": "加急", "extra_urgent": "特急"}
COLOURS = {"signed_on_time": "#2e7d32", "signed_late": "#ef6c00", "never_signed": "#c62828", "pending": "#9e9e9e",
           "returned": "#6a1b9a", "paper_served": "#00838f", "withdrawn": "#5d4037"}
DISTRIBUTION_COLOUR = "#1565c0"
FAULTS = {"sender": "发文单位 (未通知)", "receiver": "收文单位 (已通知并送达)",
          "undetermined": "待定 (已通知, 送达未确认)"}


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def _rate(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def file_name(report: dict, extension: str) -> str:
    period = report["period"]
    return f"supervision-{report['scope']}-{period['from']}-{period['to']}.{extension}"


# --- CSV ---------------------------------------------------------------------------------------------

def csv_columns() -> list[str]:
    timing = [f"{u}_{m}_minutes" for u in URGENCIES for m in ("median", "p90")]
    return ["unit_code", "name", "received", *OUTCOMES, "late_minutes_total", "late_minutes_max", *timing,
            "electronic", "paper", "electronic_rate", "electronic_target", "meets_target", "working_days",
            "missed_duty_windows"]


def csv_row(code: str, name: str, line: dict, presence: dict | None) -> list:
    timing = [line["time_to_sign_minutes"][u][m] for u in URGENCIES for m in ("median", "p90")]
    e = line["electronic"]
    return [code, name, line["received"], *(line[o] for o in OUTCOMES), line["late_minutes"]["total"],
            line["late_minutes"]["max"], *timing, e["electronic"], e["paper"], e["rate"], e["target"],
            e["meets_target"], (presence or {}).get("working_days"), (presence or {}).get("missed_windows")]


def to_csv(report: dict) -> bytes:
    """One row per unit and a total row; UTF-8 with a BOM so that spreadsheets open the Chinese names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_columns())
    for unit in report["units"]:
        writer.writerow(["" if v is None else v for v in csv_row(unit["unit_code"], unit["name"], unit,
                                                                   unit["presence"])])
    writer.writerow(["" if v is None else v for v in csv_row("TOTAL", "合计", report["totals"], None)])
    return ("\ufeff" + out.getvalue()).encode()


# --- HTML with inline SVG ----------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def units_chart(report: dict) -> str:
    """A horizontal stacked bar per unit: its receipts by outcome."""
    units = report["units"]
    row, label_width, width = 26, 170, 560
    most = max([u["received"] for u in units] + [1])
    height = row * len(units) + 40
    parts = [f'<svg id="units-chart" xmlns="http://www.w3.org/2000/svg" width="{label_width + width + 60}" '
             f'height="{height}" role="img" aria-label="每单位签收情况">']
    for n, unit in enumerate(units):
        y = 10 + n * row
        parts.append(f'<g class="unit-bar" data-unit="{_e(unit["unit_code"])}" data-received="{unit["received"]}">')
        parts.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_e(unit["name"])}</text>')
        parts.append(f'<line x1="{label_width}" y1="{y}" x2="{label_width}" y2="{y + 20}" stroke="#333"/>')
        x = label_width
        for outcome in OUTCOMES:
            count = unit[outcome]
            if count:
                w = count / most * width
                parts.append(f'<rect class="segment {outcome}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" '
                             f'fill="{COLOURS[outcome]}"><title>{LABELS[outcome]} {count}</title></rect>')
                x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{unit["received"]}</text></g>')
    legend_y = height - 12
    for n, outcome in enumerate(OUTCOMES):
        x = label_width + n * 80
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{COLOURS[outcome]}"/>'
                     f'<text x="{x + 14}" y="{legend_y}" font-size="11">{LABELS[outcome]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def distribution_chart(report: dict) -> str:
    """A column per time-to-sign bin (minutes), every signed receipt of the period."""
    bins = report["distribution"]
    column, gap, height, top = 60, 10, 180, 20
    most = max([b["count"] for b in bins] + [1])
    width = len(bins) * (column + gap) + 40
    parts = [f'<svg id="distribution-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height + 60}" role="img" aria-label="签收用时分布">']
    parts.append(f'<line x1="20" y1="{top + height}" x2="{width - 10}" y2="{top + height}" stroke="#333"/>')
    for n, item in enumerate(bins):
        x = 20 + n * (column + gap)
        h = item["count"] / most * height
        label = f'{item["from"]}–{item["to"]}' if item["to"] is not None else f'≥{item["from"]}'
        parts.append(f'<g class="bin" data-from="{item["from"]}" data-count="{item["count"]}">'
                     f'<rect x="{x}" y="{top + height - h:.1f}" width="{column}" height="{h:.1f}" '
                     f'fill="{DISTRIBUTION_COLOUR}"><title>{label} 分钟: {item["count"]}</title></rect>'
                     f'<text x="{x + column / 2}" y="{top + height - h - 4:.1f}" text-anchor="middle">'
                     f'{item["count"]}</text>'
                     f'<text x="{x + column / 2}" y="{top + height + 16}" text-anchor="middle" font-size="11">'
                     f'{label}</text></g>')
    parts.append(f'<text x="20" y="{top + height + 40}" font-size="11">签收用时 (分钟)</text></svg>')
    return "".join(parts)


STYLE = """
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei",
       "PingFang SC", sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #999; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
svg text { font-size: 12px; fill: #222; }
.note { color: #555; font-size: 12px; }
.miss { color: #c62828; font-weight: bold; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; }
  section { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _table(head: list[str], rows: list[list], css_class: str = "") -> str:
    out = [f'<table class="{css_class}"><thead><tr>', *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="text">{_e(v)}</td>' if isinstance(v, str) else f"<td>{_number(v)}</td>"
                                    for v in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def unit_rows(report: dict) -> list[list]:
    rows = []
    for unit in [*report["units"], {**report["totals"], "unit_code": "合计", "presence": None}]:
        t = unit["time_to_sign_minutes"]
        rows.append([unit["unit_code"], unit["received"], *(unit[o] for o in OUTCOMES),
                     unit["late_minutes"]["total"], unit["late_minutes"]["max"],
                     *(t[u][m] for u in URGENCIES for m in ("median", "p90")),
                     _rate(unit["electronic"]["rate"]),
                     (unit.get("presence") or {}).get("missed_windows")])
    return rows


UNIT_HEAD = ["单位", "收文", *(LABELS[o] for o in OUTCOMES), "逾期合计(分)", "最长逾期(分)",
             *(f"{URGENCY_LABELS[u]}{m}" for u in URGENCIES for m in ("中位", "P90")), "电子化率", "缺岗时段"]


def local(report: dict, moment: str | None) -> str:
    """A time as the circular prints it: the report's zone, to the minute."""
    if moment is None:
        return "未签收"
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(report["period"]["timezone"])).strftime("%Y-%m-%d %H:%M")


def late_rows(report: dict) -> list[list]:
    return [[r["unit_code"], r["doc_number"], r["title"], URGENCY_LABELS.get(r["urgency"], r["urgency"]),
             local(report, r["due_at"]), local(report, r["signed_at"]), r["late_minutes"]] for r in report["late"]]


def never_rows(report: dict) -> list[list]:
    return [[r["unit_code"], r["doc_number"], r["title"], URGENCY_LABELS.get(r["urgency"], r["urgency"]),
             local(report, r["due_at"]), r["overdue_minutes"]] for r in report["never_signed"]]


def evidence_rows(report: dict) -> list[list]:
    rows = []
    for item in report["urgent_late_evidence"]:
        told = "; ".join(f'{n["channel"] or ""} {n["to"] or ""} {local(report, n["told_at"])} {n["status"] or ""}'
                         + (f' ({n["reason"]})' if n.get("reason") else "")
                         for n in item["notifications"]) or item["note"]
        rows.append([item["unit_code"], item["doc_number"], URGENCY_LABELS.get(item["urgency"], item["urgency"]),
                     local(report, item["due_at"]), local(report, item["signed_at"]), item["late_minutes"], told,
                     FAULTS[item["fault"]]])
    return rows


def presence_rows(report: dict) -> list[list]:
    return [[u["unit_code"], u["presence"]["working_days"], u["presence"]["missed_windows"],
             ", ".join(f'{local(report, w["from"])}–{local(report, w["to"])[11:]}' for w in u["presence"]["missed"][:6])
             + (" …" if len(u["presence"]["missed"]) > 6 else "")]
            for u in report["units"] if u["presence"] is not None]


def title_of(report: dict) -> str:
    period = report["period"]
    scope = "全部单位" if report["scope"] == "all" else report["scope"]
    return f"公文签收督查通报 {period['from']} 至 {period['to']} ({scope})"


def summary_text(report: dict) -> str:
    totals, e = report["totals"], report["totals"]["electronic"]
    verdict = "—" if e["meets_target"] is None else ("达标" if e["meets_target"] else "未达标")
    return (f'收文 {totals["received"]} 件: 按时签收 {totals["signed_on_time"]}, 逾期签收 {totals["signed_late"]}, '
            f'未签收 {totals["never_signed"]}, 退回 {totals["returned"]}, 纸质送达 {totals["paper_served"]}; '
            f'电子化率 {_rate(e["rate"])} (目标 {_rate(e["target"])}): {verdict}。')


def to_html(report: dict) -> bytes:
    period = report["period"]
    body = [f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{_e(title_of(report))}"
            f"</title><style>{STYLE}</style></head><body>",
            f"<h1>{_e(title_of(report))}</h1>",
            f'<p class="note">时区 {_e(period["timezone"])}; 生成于 {_e(report["generated_at"])}; '
            f'数据来自档案账本 (ledger)。</p>',
            f"<p>{_e(summary_text(report))}</p>",
            '<section id="by-unit"><h2>各单位签收情况</h2>', units_chart(report),
            _table(UNIT_HEAD, unit_rows(report), "units"), "</section>",
            '<section id="distribution"><h2>签收用时分布</h2>', distribution_chart(report), "</section>",
            '<section id="late"><h2>逾期签收</h2>',
            _table(["单位", "文号", "标题", "紧急程度", "时限", "签收时间", "逾期(分)"], late_rows(report), "late"),
            "</section>", '<section id="never"><h2>未签收 (已过时限)</h2>',
            _table(["单位", "文号", "标题", "紧急程度", "时限", "已逾期(分)"], never_rows(report), "never"),
            "</section>", '<section id="evidence"><h2>紧急公文逾期: 通知证据 (001 §21)</h2>',
            _table(["单位", "文号", "紧急程度", "时限", "签收时间", "逾期(分)", "通知", "责任"],
                   evidence_rows(report), "evidence"), "</section>",
            '<section id="presence"><h2>值守在线 (001 §18)</h2>']
    if report["presence_note"]:
        body.append(f'<p class="note">{_e(report["presence_note"])}</p>')
    body.append(_table(["单位", "工作日", "缺岗时段", "缺岗 (前几个)"], presence_rows(report), "presence"))
    body.append("</section></body></html>")
    return "".join(body).encode()


# --- PDF -----------------------------------------------------------------------------------------------

class _Pdf(FPDF):
    def __init__(self):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.add_font("cjk", "", FONT)
        self.set_font("cjk", size=9)
        self.set_auto_page_break(True, margin=12)
        self.set_creator("Gongwen archive")

    def heading(self, text: str, size: int = 12):
        if self.get_y() > self.h - 40:  # a heading never ends a page without a line under it
            self.add_page()
        self.set_font("cjk", size=size)
        self.ln(3)
        self.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("cjk", size=8)

    def table(self, head: list[str], rows: list[list], widths: list[float]):
        self.set_fill_color(230, 230, 230)
        for text, width in zip(head, widths, strict=True):
            self.cell(width, 6, text, border=1, fill=True)
        self.ln()
        for row in rows:
            if self.get_y() > self.h - 20:
                self.add_page()
            for value, width in zip(row, widths, strict=True):
                text = value if isinstance(value, str) else _number(value)
                while text and self.get_string_width(text) > width - 1.5:
                    text = text[:-1]
                self.cell(width, 5.5, text, border=1)
            self.ln()

    def bars(self, report: dict):
        """The units chart, as in the HTML: a stacked bar per unit."""
        units = report["units"]
        most = max([u["received"] for u in units] + [1])
        x0, width = self.l_margin + 45, 180
        for unit in units:
            if self.get_y() > self.h - 20:
                self.add_page()
            y = self.get_y()
            self.cell(44, 5, unit["name"][:20], align="R")
            x = x0
            for outcome in OUTCOMES:
                if unit[outcome]:
                    w = unit[outcome] / most * width
                    self.set_fill_color(*_rgb(COLOURS[outcome]))
                    self.rect(x, y + 0.5, w, 4, style="F")
                    x += w
            self.set_xy(x + 1, y)
            self.cell(12, 5, str(unit["received"]))
            self.ln(5.5)

    def histogram(self, report: dict):
        bins = report["distribution"]
        most = max([b["count"] for b in bins] + [1])
        top, height, column = self.get_y() + 2, 35, 20
        if top + height + 12 > self.h - 12:
            self.add_page()
            top = self.get_y() + 2
        self.set_fill_color(*_rgb(DISTRIBUTION_COLOUR))
        for n, item in enumerate(bins):
            x = self.l_margin + 5 + n * (column + 4)
            h = item["count"] / most * height
            if h:
                self.rect(x, top + height - h, column, h, style="F")
            self.set_xy(x, top + height + 1)
            label = f'{item["from"]}-{item["to"]}' if item["to"] is not None else f'>={item["from"]}'
            self.cell(column, 4, f"{label}: {item['count']}", align="C")
        self.set_xy(self.l_margin, top + height + 7)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def to_pdf(report: dict) -> bytes:
    pdf = _Pdf()
    pdf.set_title(title_of(report))
    pdf.add_page()
    pdf.heading(title_of(report), 14)
    stamp = f'时区 {report["period"]["timezone"]}; 生成于 {report["generated_at"]}。'
    pdf.multi_cell(0, 5, stamp + summary_text(report), new_x="LMARGIN", new_y="NEXT")
    pdf.heading("各单位签收情况")
    pdf.bars(report)
    pdf.table(UNIT_HEAD, unit_rows(report), [22, 10, *[12] * len(OUTCOMES), 16, 14, *[14] * 6, 14, 12])
    pdf.heading("签收用时分布 (分钟)")
    pdf.histogram(report)
    pdf.heading("逾期签收")
    pdf.table(["单位", "文号", "标题", "紧急程度", "时限", "签收时间", "逾期(分)"], late_rows(report),
              [25, 40, 80, 15, 35, 35, 20])
    pdf.heading("未签收 (已过时限)")
    pdf.table(["单位", "文号", "标题", "紧急程度", "时限", "已逾期(分)"], never_rows(report), [25, 40, 100, 15, 35, 20])
    pdf.heading("紧急公文逾期: 通知证据 (001 §21)")
    pdf.table(["单位", "文号", "紧急", "时限", "签收时间", "逾期(分)", "通知", "责任"], evidence_rows(report),
              [22, 35, 10, 30, 30, 15, 95, 40])
    pdf.heading("值守在线 (001 §18)")
    if report["presence_note"]:
        pdf.cell(0, 5, report["presence_note"], new_x="LMARGIN", new_y="NEXT")
    pdf.table(["单位", "工作日", "缺岗时段", "缺岗 (前几个)"], presence_rows(report), [30, 15, 15, 200])
    return bytes(pdf.output())


FORMATS = {"csv": (to_csv, "text/csv; charset=utf-8"), "html": (to_html, "text/html; charset=utf-8"),
           "pdf": (to_pdf, "application/pdf")}


def render(report: dict, format: str) -> tuple[bytes, str, str]:
    """``(bytes, media type, file name)`` of the report in ``format`` (csv, html or pdf)."""
    make, media_type = FORMATS[format]
    return make(report), media_type, file_name(report, format)
