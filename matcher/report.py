"""report.html: one self-contained page (plotly.js embedded inline, so it works offline) about one run.

Sections: the run's status, objective, bound and gap; the flows from partners to districts by
resource (a Sankey, each link sized in needs' worth: the share of a need it covers, so hours,
desks and dollars can share one picture); coverage per district and resource; role workload per
partner against its capacity; and the unmet needs with their causes.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from matcher.schema import RESOURCES

RESOURCE_COLOURS = {"volunteers": "rgba(31,119,180,0.55)", "office_space": "rgba(255,127,14,0.55)",
                    "money": "rgba(44,160,44,0.55)", "expertise": "rgba(148,103,189,0.55)"}
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.status { display: flex; gap: 1.5rem; flex-wrap: wrap; background: #f4f6f8; padding: .8rem 1rem; border-radius: 6px; }
.status div { min-width: 7rem; } .status b { display: block; font-size: .75rem; color: #666; font-weight: 500; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; border-bottom: 1px solid #ddd; padding: .3rem .5rem; vertical-align: top; }
th { background: #f4f6f8; } .note { color: #666; font-size: .85rem; }
"""


def write_report(out: str | Path, target: str | Path | None = None) -> Path:
    """Write report.html for the output folder `out` (into it, unless `target` says where)."""
    from matcher.explain import read_run

    tables, manifest = read_run(out)
    path = Path(target) if target else Path(out) / "report.html"
    path.write_text(render(tables, manifest), encoding="utf-8")
    return path


def render(tables: dict[str, pd.DataFrame], manifest: dict) -> str:
    """The whole page as a string."""
    figures = [("Flows: partner → district, by resource", sankey(tables)),
               ("Coverage per district and resource", coverage_heatmap(tables)),
               ("Role workload per partner against capacity", workload_bars(tables))]
    parts = []
    for i, (title, figure) in enumerate(figures):
        body = figure.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False},
                              div_id=f"chart-{i}")
        parts.append(f"<h2>{html.escape(title)}</h2>\n{body}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>matcher report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<h1>matcher run report</h1>
{status_block(manifest)}
{''.join(parts)}
<h2>Unmet needs and why</h2>
{unmet_block(tables.get("unmet"))}
<p class="note">Made by matcher {html.escape(str(manifest.get("matcher_version", "")))}; every number here is
recomputed from the run's CSV files.</p>
</body></html>
"""


def status_block(manifest: dict) -> str:
    def fmt(value, spec=".4f"):
        return "—" if value is None else format(value, spec)

    items = {"status": manifest.get("status", "—"), "objective": fmt(manifest.get("objective")),
             "best bound": fmt(manifest.get("best_bound")), "gap": fmt(manifest.get("gap"), ".4%"),
             "coverage": fmt(manifest.get("coverage")),
             "solve time": fmt(manifest.get("times_s", {}).get("solve_s"), ".2f") + " s"}
    cells = "".join(f"<div><b>{html.escape(k)}</b>{html.escape(str(v))}</div>" for k, v in items.items())
    return f'<div class="status" id="status">{cells}</div>'


def sankey(tables: dict[str, pd.DataFrame]) -> go.Figure:
    """Partners on the left, districts on the right; a link per (partner, district, resource)."""
    allocations = tables["allocations"]
    partners = tables["partners_summary"].set_index("partner_id")["name"]
    districts = tables["districts_summary"].set_index("district_id")["name"]
    flows = allocations.groupby(["partner_id", "district_id", "resource"], as_index=False).agg(
        share=("share_of_need", "sum"), quantity=("quantity", "sum"), unit=("unit", "first"))
    left = sorted(flows["partner_id"].unique())
    right = sorted(flows["district_id"].unique())
    labels = [_label(partners, p) for p in left] + [_label(districts, d) for d in right]
    index = {("p", p): i for i, p in enumerate(left)} | {("d", d): len(left) + i for i, d in enumerate(right)}
    link = {"source": [index[("p", p)] for p in flows["partner_id"]],
            "target": [index[("d", d)] for d in flows["district_id"]],
            "value": flows["share"].round(4).tolist(),
            "color": [RESOURCE_COLOURS.get(r, "rgba(120,120,120,0.5)") for r in flows["resource"]],
            "customdata": [f"{r.replace('_', ' ')}: {q:,} {u}" for r, q, u in
                           zip(flows["resource"], flows["quantity"], flows["unit"])],
            "hovertemplate": "%{source.label} → %{target.label}<br>%{customdata}<br>%{value:.2f} needs' worth"
                             "<extra></extra>"}
    figure = go.Figure(go.Sankey(node={"label": labels, "pad": 12, "thickness": 14}, link=link,
                                 arrangement="snap"))
    for resource, colour in RESOURCE_COLOURS.items():  # a legend of colours, as invisible traces
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=resource.replace("_", " "),
                                    marker={"color": colour.replace("0.55", "1"), "size": 10}, showlegend=True))
    figure.update_layout(height=max(420, 22 * max(len(left), len(right))), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="white",
                         legend={"orientation": "h", "y": -0.02})
    return figure


def coverage_heatmap(tables: dict[str, pd.DataFrame]) -> go.Figure:
    """Share of each district's needs of each resource that the plan meets."""
    summary = tables["districts_summary"]
    resources = [r for r in RESOURCES if summary[f"needed_{r}"].sum() > 0]
    shares = [[(a / n if n else None) for a, n in zip(summary[f"allocated_{r}"], summary[f"needed_{r}"])]
              for r in resources]
    text = [[("" if n == 0 else f"{a:,.0f} of {n:,.0f}") for a, n in
             zip(summary[f"allocated_{r}"], summary[f"needed_{r}"])] for r in resources]
    figure = go.Figure(go.Heatmap(z=shares, x=[_label(summary.set_index("district_id")["name"], d)
                                               for d in summary["district_id"]],
                                  y=[r.replace("_", " ") for r in resources], text=text, zmin=0, zmax=1,
                                  colorscale="RdYlGn", colorbar={"title": {"text": "met"}, "tickformat": ".0%"},
                                  hovertemplate="%{x}<br>%{y}: %{z:.0%} (%{text})<extra></extra>"))
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def workload_bars(tables: dict[str, pd.DataFrame]) -> go.Figure:
    """Role hours each partner carries against the hours it can give; and the share of its offers used."""
    summary = tables["partners_summary"]
    labels = [_label(summary.set_index("partner_id")["name"], p) for p in summary["partner_id"]]
    figure = go.Figure()
    if "role_hours" in summary.columns:
        figure.add_bar(x=labels, y=summary["role_hours"], name="role hours a week it can give",
                       marker_color="rgba(160,160,160,0.6)")
        figure.add_bar(x=labels, y=summary["role_hours_used"], name="role hours a week used",
                       marker_color="rgba(31,119,180,0.9)")
    figure.update_layout(barmode="overlay", height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         yaxis={"title": {"text": "hours a week"}}, legend={"orientation": "h", "y": 1.08})
    return figure


def unmet_block(unmet: pd.DataFrame | None) -> str:
    if unmet is None or unmet.empty:
        return '<p id="unmet">Every need is fully met.</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("need", "district", "resource", "needed", "allocated",
                                                          "shortfall", "why"))
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r.need_id, r.district_id, f"{r.resource} ({r.skill})", r.needed, r.allocated, r.shortfall, r.reason))
        + "</tr>" for r in unmet.itertuples())
    return f'<table id="unmet"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _label(names: pd.Series, key: str) -> str:
    name = names.get(key)
    return f"{name} ({key})" if isinstance(name, str) and name else str(key)
