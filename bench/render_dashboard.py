"""Draw the provisioned Grafana dashboard from scraped samples, without Grafana (docs/observability.md §6).

Grafana cannot run here (it is on none of PyPI, Debian or npm, and nothing else can be downloaded), so
this is not a screenshot of Grafana: it evaluates the *same panels and PromQL queries* as
deploy/grafana/dashboards/leadchain.json over samples scraped from the stack's /metrics endpoints during
a run, and draws them with matplotlib in the dashboard's layout.

    # during a run (e.g. `make chaos`): scrape every 5 s until the file STOP exists or --duration passes
    .venv/bin/python bench/render_dashboard.py scrape --out artifacts/metrics-run.jsonl \\
        --target web=http://127.0.0.1:8000/metrics --target chain=http://127.0.0.1:9464/metrics \\
        [--interval 5] [--duration 3600] [--stop-file STOP]
    # after it
    .venv/bin/python bench/render_dashboard.py render artifacts/metrics-run.jsonl \\
        [--out artifacts/grafana-dashboard.png] [--rate-interval 1m] [--dashboard PATH]

    # or, with a real Prometheus that scraped the run (make chaos CHAOS_ARGS=--prometheus starts one):
    .venv/bin/python bench/render_dashboard.py render-prometheus --url http://127.0.0.1:9090 \
        --start UNIX --end UNIX [--step 15] [--out artifacts/chaos-dashboard.png]

render-prometheus asks Prometheus itself (its HTTP query_range API) for each panel's queries, so the
PromQL is Prometheus's own; only the drawing is ours. Still not Grafana.

The scrape file holds one JSON object per line: {"t": unix seconds, "target": name, "text": exposition}.
The query evaluator knows the subset of PromQL the dashboard uses: sum/max/min [by (...)], rate,
increase, histogram_quantile and selectors with =, !=, =~, !~ (counter resets handled; no extrapolation,
so rates read slightly lower than Prometheus's at the edges of a window).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "leadchain.json"
LOOKBACK_S = 300.0  # an instant selector sees the newest sample at most this old (Prometheus's default)

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]


# --- scraped samples -----------------------------------------------------------------------------


@dataclass
class Samples:
    """Every scraped series: (name, labels incl. instance) → [(t, value)] in time order."""

    series: dict[tuple[str, Labels], list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    times: list[float] = field(default_factory=list)

    def add_scrape(self, t: float, target: str, text: str) -> None:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = frozenset({**s.labels, "instance": target}.items())
                self.series[(s.name, labels)].append((t, float(s.value)))
        self.times.append(t)

    @classmethod
    def load(cls, path: Path) -> Samples:
        found = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                found.add_scrape(float(row["t"]), str(row["target"]), str(row["text"]))
        found.times = sorted(set(found.times))
        return found


# --- the PromQL subset ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    r'|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<op>=~|!~|!=|[(){}\[\],=])"
    r"|(?P<id>[A-Za-z_:][A-Za-z0-9_:]*))"
)
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot read {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        value = self.peek()
        if expected is not None and value != expected:
            raise ValueError(f"expected {expected!r}, found {value!r}")
        self.i += 1
        return value

    def expr(self) -> tuple:
        word = self.take()
        if word in ("sum", "max", "min"):
            by: tuple[str, ...] | None = None
            if self.peek() == "by":
                self.take()
                by = self.label_list()
            self.take("(")
            inner = self.expr()
            self.take(")")
            return ("agg", word, by, inner)
        if word in ("rate", "increase"):
            self.take("(")
            sel = self.selector(self.take())
            self.take("[")
            window = self.duration()
            self.take("]")
            self.take(")")
            return (word, sel, window)
        if word == "histogram_quantile":
            self.take("(")
            q = float(self.take())
            self.take(",")
            inner = self.expr()
            self.take(")")
            return ("quantile", q, inner)
        return ("select", self.selector(word))

    def label_list(self) -> tuple[str, ...]:
        self.take("(")
        names = []
        while self.peek() != ")":
            names.append(self.take())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return tuple(names)

    def selector(self, name: str) -> tuple[str, list[tuple[str, str, str]]]:
        matchers = []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                label, op, value = self.take(), self.take(), json.loads(self.take())
                matchers.append((label, op, value))
                if self.peek() == ",":
                    self.take()
            self.take("}")
        return name, matchers

    def duration(self) -> float:
        text = ""
        while self.peek() != "]":
            text += self.take()
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {text!r}")
        return float(sum(int(n) * _UNIT[u] for n, u in parts))


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for label, op, value in matchers:
        have = labels.get(label, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


def _window(points: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in points if start < t <= end]


def _increase(points: list[tuple[float, float]]) -> float:
    total = 0.0
    for (_, before), (_, after) in zip(points, points[1:], strict=False):
        total += after - before if after >= before else after  # a reset starts again from 0
    return total


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over (upper bound, cumulative count) pairs."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / max(count - prev_count, 1e-12)
        prev_bound, prev_count = bound, count
    return prev_bound


def evaluate(node: tuple, samples: Samples, t: float) -> Vector:
    kind = node[0]
    if kind == "select":
        name, matchers = node[1]
        found: Vector = {}
        for (series_name, labels), points in samples.series.items():
            if series_name == name and _matches(dict(labels), matchers):
                recent = _window(points, t - LOOKBACK_S, t)
                if recent:
                    found[labels] = recent[-1][1]
        return found
    if kind in ("rate", "increase"):
        (name, matchers), window = node[1], node[2]
        found = {}
        for (series_name, labels), points in samples.series.items():
            if series_name == name and _matches(dict(labels), matchers):
                inside = _window(points, t - window, t)
                if len(inside) >= 2:
                    grown = _increase(inside)
                    found[labels] = grown / (inside[-1][0] - inside[0][0]) if kind == "rate" else grown
        return found
    if kind == "quantile":
        groups: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
        for labels, value in evaluate(node[2], samples, t).items():
            le = dict(labels).get("le")
            if le is not None:
                groups[frozenset((k, v) for k, v in labels if k != "le")].append((float(le), value))
        return {labels: _quantile(node[1], b) for labels, b in groups.items()}
    _, op, by, inner = node
    grouped: dict[Labels, list[float]] = defaultdict(list)
    for labels, value in evaluate(inner, samples, t).items():
        grouped[frozenset((k, v) for k, v in labels if by is not None and k in by)].append(value)
    combine = {"sum": sum, "max": max, "min": min}[op]
    return {labels: combine(values) for labels, values in grouped.items()}


# --- drawing -------------------------------------------------------------------------------------


def legend(template: str, labels: Labels) -> str:
    values = dict(labels)
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values.get(m.group(1), ""), template).strip()
    return text or "value"


def panel_series(panel: dict[str, Any], samples: Samples, rate_interval: str) -> dict[str, list[tuple[float, float]]]:
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for target in panel["targets"]:
        node = Parser(target["expr"].replace("$__rate_interval", rate_interval)).expr()
        for t in samples.times:
            for labels, value in evaluate(node, samples, t).items():
                if not math.isnan(value):
                    lines[legend(target.get("legendFormat", ""), labels)].append((t, value))
    return lines


@dataclass
class PrometheusSource:
    """Panel series from a real Prometheus (GET /api/v1/query_range), in place of Samples' evaluator."""

    url: str
    start: float
    end: float
    step: float = 15.0

    @property
    def times(self) -> list[float]:
        return [self.start, self.end]

    def panel_series(self, panel: dict[str, Any], rate_interval: str) -> dict[str, list[tuple[float, float]]]:
        lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for target in panel["targets"]:
            query = target["expr"].replace("$__rate_interval", rate_interval)
            params = {"query": query, "start": self.start, "end": self.end, "step": self.step}
            answer = httpx.get(f"{self.url.rstrip('/')}/api/v1/query_range", params=params, timeout=30)
            answer.raise_for_status()
            for series in answer.json()["data"]["result"]:
                name = legend(target.get("legendFormat", ""), frozenset(series["metric"].items()))
                for t, value in series["values"]:
                    if not math.isnan(float(value)):
                        lines[name].append((float(t), float(value)))
        return lines


def render(
    samples: Samples | PrometheusSource, dashboard: dict[str, Any], out: Path, rate_interval: str, credit: str = ""
) -> int:
    # matplotlib only here: the scrape command must start fast and needs none of it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) // 8
    plt.style.use("dark_background")
    fig, axes = plt.subplots(rows, 2, figsize=(18, 3.2 * rows), squeeze=False)
    fig.patch.set_facecolor("#111217")
    start = samples.times[0] if samples.times else 0.0
    drawn = 0
    for panel in panels:
        ax = axes[panel["gridPos"]["y"] // 8][panel["gridPos"]["x"] // 12]
        ax.set_facecolor("#181b1f")
        ax.set_title(panel["title"], loc="left", fontsize=10, color="#ccccdc")
        if isinstance(samples, PrometheusSource):
            lines = samples.panel_series(panel, rate_interval)
        else:
            lines = panel_series(panel, samples, rate_interval)
        for name, points in sorted(lines.items())[:12]:
            ax.plot([(t - start) / 60 for t, _ in points], [v for _, v in points], linewidth=1.2, label=name[:60])
        if lines:
            drawn += 1
            ax.legend(fontsize=6, loc="upper left", framealpha=0.3)
        else:
            ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes, color="#8e8e8e")
        ax.set_xlabel("minutes into the run", fontsize=7)
        ax.set_ylabel(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""), fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.15)
    span = (samples.times[-1] - start) / 60 if samples.times else 0.0
    credit = credit or (
        f"{len(samples.times)} scrapes over {span:.1f} min; drawn by bench/render_dashboard.py "
        "from the dashboard's own queries (not a Grafana screenshot)"
    )
    fig.suptitle(
        f"{dashboard['title']} — {credit}",
        fontsize=11,
        color="#ccccdc",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, facecolor=fig.get_facecolor())
    plt.close(fig)
    return drawn


# --- commands ------------------------------------------------------------------------------------


def scrape(targets: dict[str, str], out: Path, interval: float, duration: float, stop_file: Path | None) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    deadline, rounds = time.monotonic() + duration, 0
    with httpx.Client(timeout=max(1.0, interval)) as http, out.open("a", encoding="utf-8") as sink:
        while time.monotonic() < deadline and not (stop_file and stop_file.exists()):
            started = time.monotonic()
            for name, url in targets.items():
                try:
                    text = http.get(url).raise_for_status().text
                except httpx.HTTPError as e:
                    print(f"scrape {name}: {type(e).__name__}", file=sys.stderr)
                    continue
                sink.write(json.dumps({"t": time.time(), "target": name, "text": text}) + "\n")
            sink.flush()
            rounds += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scrape")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--target", action="append", required=True, help="name=url of a /metrics endpoint")
    s.add_argument("--interval", type=float, default=5.0)
    s.add_argument("--duration", type=float, default=3600.0)
    s.add_argument("--stop-file", type=Path)
    r = sub.add_parser("render")
    r.add_argument("scrapes", type=Path)
    r.add_argument("--out", type=Path, default=REPO / "artifacts" / "grafana-dashboard.png")
    r.add_argument("--dashboard", type=Path, default=DASHBOARD)
    r.add_argument("--rate-interval", default="1m")
    q = sub.add_parser("render-prometheus")
    q.add_argument("--url", required=True, help="Prometheus, e.g. http://127.0.0.1:9090")
    q.add_argument("--start", type=float, required=True, help="unix seconds")
    q.add_argument("--end", type=float, required=True, help="unix seconds")
    q.add_argument("--step", type=float, default=15.0)
    q.add_argument("--out", type=Path, default=REPO / "artifacts" / "chaos-dashboard.png")
    q.add_argument("--dashboard", type=Path, default=DASHBOARD)
    q.add_argument("--rate-interval", default="1m")
    args = parser.parse_args(argv)
    if args.command == "render-prometheus":
        return render_from_prometheus(args.url, args.start, args.end, args.out, args.dashboard, args.step)
    if args.command == "scrape":
        targets = dict(t.split("=", 1) for t in args.target)
        rounds = scrape(targets, args.out, args.interval, args.duration, args.stop_file)
        print(f"{rounds} scrape rounds of {len(targets)} targets into {args.out}")
        return 0
    samples = Samples.load(args.scrapes)
    if not samples.times:
        print(f"no scrapes in {args.scrapes}", file=sys.stderr)
        return 2
    dashboard = json.loads(args.dashboard.read_text(encoding="utf-8"))
    drawn = render(samples, dashboard, args.out, args.rate_interval)
    print(f"{args.out}: {drawn} of {len(dashboard['panels'])} panels with data, {len(samples.times)} scrapes")
    return 0


def render_from_prometheus(
    url: str, start: float, end: float, out: Path, dashboard_path: Path = DASHBOARD, step: float = 15.0
) -> int:
    dashboard = json.loads(dashboard_path.read_text(encoding="utf-8"))
    source = PrometheusSource(url, start, end, step)
    credit = (
        f"{(end - start) / 60:.1f} min queried from Prometheus ({url}, query_range, step {step:g} s) with the "
        "dashboard's own PromQL; drawn with matplotlib (not a Grafana screenshot)"
    )
    drawn = render(source, dashboard, out, "1m", credit)
    print(f"{out}: {drawn} of {len(dashboard['panels'])} panels with data (from Prometheus)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
