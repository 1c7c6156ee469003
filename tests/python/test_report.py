"""`keel report`: rendered from real warehouses and opened in a real headless Chromium.

The browser is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`, a few lines
of stdlib below, no new dependency): that is what lets the test see what `--dump-dom` cannot, the
laid-out geometry of every chart mark, and every console error, script exception, blocked load
and network request as structured events rather than log lines whose format changes between
Chromium versions.

Without Chromium the browser tests are skipped locally (with how to install it) and fail in CI,
where .ci/run installs it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from keel.promote import promote
from keel.registry import current_alias
from keel.report import read_report_data, render, report_path, write_report
from keel.warehouse import WAREHOUSE_ENV, connect

MODEL = "purchase_propensity"
MONITORING = ("mon_feature_drift", "mon_prediction_drift", "mon_performance", "mon_data_quality",
              "mon_alerts")
HOSTILE = "<script>document.title='pwned'</script>"


# ---------------------------------------------------------------------------------------------
# a headless Chromium on a DevTools pipe


def _chromium_binary() -> str | None:
    for candidate in (os.environ.get("KEEL_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _above_ten(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium; `load(path)` opens a file and reports what a reader would see."""

    def __init__(self, binary: str, profile: Path):
        # the pipe protocol wants fd 3 to read commands from and fd 4 to write answers to; bash
        # puts them there (sh cannot name fds above 9), from ends moved to 10 and up first so
        # that the two redirections cannot clash
        to_chrome, self._in = os.pipe()
        self._out, from_chrome = os.pipe()
        to_chrome, from_chrome = (_above_ten(fd) for fd in (to_chrome, from_chrome))
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome}', binary,
             "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._next_id, self.events = b"", 0, []

    def _receive(self, done, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if done(message):
                    return message
                if "method" in message:
                    self.events.append(message)
            ready, _, _ = select.select([self._out], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                raise EOFError("Chromium exited")
            self._buffer += chunk

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        answer = self._receive(lambda m: m.get("id") == ident)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def load(self, path: Path, probe: str) -> tuple[list[str], object]:
        """Open `path`, wait for its load event, evaluate `probe` (a JS expression); returns every
        problem a reader's console would show (errors, exceptions, blocked or network loads) and
        the probe's value."""
        url = path.resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.events = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        self.call("Page.navigate", {"url": url}, session)
        self._receive(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        value = self.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session)
        problems = []
        for event in (e for e in self.events if e.get("sessionId") == session):
            method, params = event["method"], event["params"]
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                thrown = details.get("exception", {}).get("description") or details["text"]
                problems.append(f"exception: {thrown}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                problems.append(f"console.{params['type']}: {[a.get('value') for a in params['args']]}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                problems.append(f"{params['entry']['source']}: {params['entry']['text']}")
            elif method == "Network.requestWillBeSent" and params["request"]["url"] != url:
                problems.append(f"request: {params['request']['url']}")
        self.call("Target.closeTarget", {"targetId": target})
        return problems, value["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        finally:
            os.close(self._in)
            os.close(self._out)
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    binary = _chromium_binary()
    if binary is None:
        message = "headless Chromium is needed to open the report: sudo apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(binary, Path(profile))
        try:
            yield browser
        finally:
            browser.close()


# Every chart as laid out: its size, and each mark's geometry and whether it lies inside the chart.
CHARTS = """(() => {
  const within = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1
                          && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  return {
    scripts: document.scripts.length,
    images: document.images.length,
    title: document.title,
    text: document.body.innerText,
    charts: [...document.querySelectorAll('figure.chart')].map(f => {
      const svg = f.querySelector('svg');
      const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
      const marks = svg ? [...svg.querySelectorAll('.mark')].map(m => {
        const b = m.getBBox();
        return {width: b.width, height: b.height, inside: within(m.getBoundingClientRect(), box)};
      }) : [];
      return {chart: f.dataset.chart, model: f.dataset.model ?? null,
              width: box.width, height: box.height, marks};
    }),
  };
})()"""


def _drawn(chart: dict) -> bool:
    """A chart with a visible box whose every mark has a length or an area and lies inside it."""
    return (chart["width"] > 0 and chart["height"] > 0 and bool(chart["marks"])
            and all((m["width"] > 0 or m["height"] > 0) and m["inside"] for m in chart["marks"]))


# ---------------------------------------------------------------------------------------------
# warehouses


@pytest.fixture
def report_wh(trained, tmp_path, monkeypatch):
    """A copy of the session's trained warehouse (tests here change it) with a champion."""
    copy = tmp_path / "wh"
    shutil.copytree(trained["path"].parent, copy)
    monkeypatch.setenv(WAREHOUSE_ENV, str(copy / trained["path"].name))
    with connect() as con:
        champion = current_alias(con, MODEL, "champion")
    # other modules may have made a hand-made version (no calibration bins) champion
    if champion != trained["first"].version:
        promote(MODEL, trained["first"].version, force=True, reason="the report tests chart this version")
    return copy / trained["path"].name


def _existing(schema: str) -> set[str]:
    with connect() as con:
        return {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]).fetchall()}


def _replace_monitoring(sql_by_table: dict[str, str]) -> None:
    """Put these rows where the monitoring models will be (as tables: this is the test's copy)."""
    with connect() as con:
        con.execute("create schema if not exists monitoring")
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables "
                                 "where table_schema = 'monitoring'").fetchall())
        for name, select_sql in sql_by_table.items():
            if name in kinds:
                con.execute(f"drop {'view' if kinds[name] == 'VIEW' else 'table'} monitoring.{name}")
            con.execute(f"create table monitoring.{name} as {select_sql}")


DAYS = "range(date '2026-01-20', date '2026-02-03', interval 1 day) as d(ts)"
DRIFT = f"""
    select '{MODEL}' as model, 1 as version, ts::date as day, c.name as column_name, 'numeric' as kind,
           1000 as reference_rows, 300 as current_rows,
           c.k * 0.01 * (1 + datediff('day', date '2026-01-20', ts)) as psi, 0.1 as ks,
           0.05 as wasserstein_norm, 0.02 as js_distance, 0.0 as null_rate_reference,
           0.01 as null_rate_current, 0.01 as null_rate_change, 0.3 as mean_shift_std
    from {DAYS}, (values ('item_views_1d', 1), ('spend_7d', 2), ({{name}}, 3)) as c(name, k)
"""


# ---------------------------------------------------------------------------------------------
# tests


def test_report_of_a_trained_warehouse_opens_offline_with_its_charts_drawn(report_wh, chromium):
    path = write_report()
    assert path == report_path() == report_wh.with_name("keel_report.html")
    problems, page = chromium.load(path, CHARTS)
    assert problems == []
    assert page["scripts"] == 0 and page["images"] == 0
    charts = {(c["chart"], c["model"]): c for c in page["charts"]}
    calibration = charts[("calibration", MODEL)]
    assert len(calibration["marks"]) >= 3 and _drawn(calibration), calibration  # bins and their line
    assert _drawn(charts[("lineage", MODEL)])
    text = page["text"]
    for expected in ("champion", "user_id", "sklearn.linear_model.LogisticRegression", "fv_user_activity",
                     "raw.events", "train window", "roc_auc", "No slices are declared"):
        assert expected in text, expected
    # monitoring the warehouse does not have yet is a note, not an error
    missing = set(MONITORING) - _existing("monitoring")
    for name in missing:
        assert f"monitoring.{name} does not exist" in text, name


def test_monitoring_tables_are_charted_and_text_from_them_is_escaped(report_wh, chromium, tmp_path):
    hostile = HOSTILE.replace("'", "''")
    _replace_monitoring({
        "mon_feature_drift": DRIFT.format(name=f"'{hostile}'"),
        "mon_prediction_drift": DRIFT.format(name="'score'"),
        "mon_performance": f"""
            select '{MODEL}' as model, v as version, ts::date as day, 300 as rows, 80 as positives,
                   0.7 + 0.01 * v as roc_auc, 0.6 as log_loss, 0.2 as brier, 0.5 as precision,
                   0.5 as recall, 0.5 as threshold, 0.02 * v as expected_calibration_error
            from {DAYS}, range(1, 3) as r(v)""",
        "mon_data_quality": f"""
            select 'clickstream' as source, ts::date as day, 1300 as rows, 13 as quarantined,
                   0.01 as quarantine_rate, 2.0 as freshness_hours, 0.3 as volume_zscore, 0 as new_fields,
                   0 as missing_fields, 'a column added later' as added_later
            from {DAYS}""",
        "mon_alerts": f"""
            select 'a' || i as alert_id, date '2026-02-02' as day, 'feature_drift' as check_name,
                   case when i = 0 then 'critical' else 'warning' end as severity, '{MODEL}' as model,
                   1 as version, null as source, '{hostile}' as subject, 'psi' as statistic, 0.3 as value,
                   0.2 as threshold, 'PSI <img src=x onerror=alert(1)> & rising' as message
            from range(2) as t(i)""",
    })
    (tmp_path / "out").mkdir()
    path = write_report(tmp_path / "out")  # a directory: the default name inside it
    assert path == tmp_path / "out" / "keel_report.html"
    problems, page = chromium.load(path, CHARTS)
    # an unescaped <script> or <img> would run or load (or be blocked, which logs an error)
    assert problems == []
    assert page["scripts"] == 0 and page["images"] == 0 and page["title"] != "pwned"
    assert HOSTILE in page["text"] and "PSI <img src=x onerror=alert(1)> & rising" in page["text"]
    charts = {(c["chart"], c["model"]): c for c in page["charts"]}
    for key in (("feature-drift", MODEL), ("prediction-drift", MODEL), ("performance-roc_auc", MODEL),
                ("performance-expected_calibration_error", MODEL), ("quality-quarantine_rate", None),
                ("quality-rows", None), ("quality-freshness_hours", None)):
        assert key in charts, key
        assert _drawn(charts[key]), (key, charts[key])
        assert len(charts[key]["marks"]) >= 14, key  # a point per day at least
    assert "a column added later" in page["text"]
    assert "2 critical" not in page["text"] and "1 critical, 1 other" in page["text"]


def test_missing_empty_reshaped_or_broken_monitoring_relations_become_notes(report_wh):
    _replace_monitoring({
        "mon_performance": f"select '{MODEL}' as model, 1 as version, current_date as day where false",
        # a renamed column: the chart has nothing to draw, the table still shows what there is
        "mon_feature_drift": f"select '{MODEL}' as model, 1 as version, date '2026-02-01' as day, "
                             "'spend_7d' as column_name, 0.3 as population_stability",
        "mon_alerts": "select 1 as alert_id",
    })
    with connect() as con:  # a view over a table that is gone
        con.execute("create table monitoring.gone as select 1 as x")
        con.execute("drop table if exists monitoring.mon_data_quality")  # dbt built it as a table
        con.execute("create view monitoring.mon_data_quality as select * from monitoring.gone")
        con.execute("drop table monitoring.gone")
        con.execute("drop table if exists monitoring.mon_prediction_drift")  # a relation not built yet
    html = render(read_report_data())
    assert "No performance over time yet: monitoring.mon_performance is empty." in html
    assert "PSI per day against the training reference, v1: no values to draw yet." in html
    assert "spend_7d" in html
    assert "No data-quality checks yet: monitoring.mon_data_quality could not be read" in html
    assert "No prediction drift yet: monitoring.mon_prediction_drift does not exist." in html


def test_a_warehouse_with_no_model_trained_renders_with_notes(built, monkeypatch):
    monkeypatch.setenv(WAREHOUSE_ENV, str(built["path"]))
    html = render(read_report_data())
    assert "No model versions yet: registry.model_versions_current is empty." in html
    assert f"Not trained yet: no registered version (run `keel train {MODEL}`)." in html
    assert "0 registered versions" in html


def test_keel_report_without_a_warehouse_writes_a_page_that_says_so(tmp_path):
    keel = str(Path(sys.executable).with_name("keel"))
    warehouse = tmp_path / "wh" / "keel.duckdb"
    done = subprocess.run([keel, "report", "--out", str(tmp_path / "r.html")], capture_output=True, text=True,
                          env={**os.environ, WAREHOUSE_ENV: str(warehouse)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "r.html")
    assert "no warehouse" in done.stderr
    html = (tmp_path / "r.html").read_text()
    assert f"There is no warehouse at {warehouse} yet" in html
    assert not warehouse.exists()
