"""Online serving: a real uvicorn server on loopback, real HTTP, a real registry and online store."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import duckdb
import numpy as np
import pytest
import uvicorn

from keel.ingest import ingest
from keel.online_store import materialize
from keel.project import run_dbt
from keel.promote import promote
from keel.registry import load_artifact
from keel.serve import create_app, prediction_log_dir
from keel.train import train
from keel.warehouse import WAREHOUSE_ENV

MODEL = "purchase_propensity"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(trained, tmp_path, monkeypatch):
    """`keel serve`'s app on a loopback port, in a thread of this process, on a copy of the
    trained warehouse (the test trains and ingests: other modules' tests expect the original)."""
    copy = tmp_path / "wh"
    shutil.copytree(trained["path"].parent, copy)
    trained = {**trained, "path": copy / trained["path"].name}
    monkeypatch.setenv(WAREHOUSE_ENV, str(trained["path"]))
    [(newest,)] = duckdb.connect(str(trained["path"])).execute(
        "select max(feature_ts) from features.fv_user_activity").fetchall()
    materialize(as_of=newest)
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=_free_port(), log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield {"url": f"http://127.0.0.1:{config.port}", **trained}
    srv.should_exit = True
    thread.join(10)


def _call(url: str, body: bytes | None = None, method: str | None = None,
          content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                     headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_serving_answers_refuses_bad_input_follows_the_champion_and_logs_to_raw(server):
    promote(MODEL, server["first"].version, force=True, reason="serving test starts from version 1")
    url = server["url"]
    [(user,)] = duckdb.connect(str(server["path"])).execute(
        "select user_id from features.fv_user_activity_latest order by user_id limit 1").fetchall()
    predict = f"{url}/v1/models/{MODEL}/predict"

    assert _call(f"{url}/healthz") == (200, {"status": "ok", "catalog": True, "online_store": True})
    status, models = _call(f"{url}/v1/models")
    assert status == 200 and models[MODEL]["aliases"]["champion"] == server["first"].version
    assert "/v1/models/{model}/predict" in _call(f"{url}/openapi.json")[1]["paths"]

    status, answer = _call(predict, json.dumps({"entities": [user]}).encode())
    assert status == 200, answer
    assert answer["version"] == server["first"].version and 0 <= answer["predictions"][0]["score"] <= 1
    # a JSON media type the server's fast path leaves to FastAPI's own route: the same prediction
    status, routed = _call(predict, json.dumps({"entities": [user]}).encode(),
                           content_type="application/vnd.keel+json")
    assert status == 200 and routed["predictions"] == answer["predictions"], routed

    registered, path, sha256 = duckdb.connect(str(server["path"])).execute(
        "select features, artifact_path, artifact_sha256 from registry.model_versions "
        "where model = ? and version = ?", [MODEL, server["first"].version]).fetchone()
    features = [f["name"] for f in json.loads(registered)]
    row = {f: 1.0 for f in features}
    row[features[1]] = None
    status, answer = _call(predict, json.dumps({"rows": [row]}).encode())
    assert status == 200, answer
    # the score served is the registered pipeline's own predict_proba, to the last bit
    matrix = np.array([[np.nan if row[f] is None else row[f] for f in features]])
    assert answer["predictions"][0]["score"] == load_artifact(path, sha256).predict_proba(matrix)[0, 1]

    bad = {
        "unknown model": (f"{url}/v1/models/nope/predict", json.dumps({"entities": [user]}).encode(), 404),
        "unknown entity": (predict, json.dumps({"entities": ["nobody-at-all"]}).encode(), 404),
        "unknown alias": (predict + "?alias=staging", json.dumps({"entities": [user]}).encode(), 404),
        "wrong type": (predict, json.dumps({"entities": "not a list"}).encode(), 422),
        "wrong value type": (predict, json.dumps({"rows": [{**row, features[0]: "high"}]}).encode(), 422),
        "infinite value": (predict, json.dumps({"rows": [{**row, features[0]: float("inf")}]}).encode(), 422),
        "missing field": (predict, json.dumps({"rows": [{features[0]: 1.0}]}).encode(), 422),
        "extra key": (predict, json.dumps({"entities": [user], "debug": True}).encode(), 422),
        "neither": (predict, b"{}", 422),
        "malformed": (predict, b'{"entities": [', 422),
        "oversized": (predict, json.dumps({"entities": ["x" * 100] * 20_000}).encode(), 413),
    }
    for name, (target, body, expected) in bad.items():
        status, answer = _call(target, body)
        assert status == expected, (name, status, answer)
        assert answer.get("detail"), name
        # the fast path's refusals read as FastAPI's own route words them
        assert _call(target, body, content_type="application/vnd.keel+json") == (status, answer), name

    # a new champion is served on the next request, without a restart
    second = train(MODEL)
    promote(MODEL, second.version, force=True, reason="serving test swaps the champion")
    status, answer = _call(predict, json.dumps({"entities": [user]}).encode())
    assert status == 200 and answer["version"] == second.version

    # what was served flows back: the log is ingested like any raw log and staged into predictions;
    # one copied record with a feature value changed stands for a server that read skewed features
    logged = [json.loads(line) for f in sorted(prediction_log_dir().glob("*.jsonl"))
              for line in f.read_text().splitlines()]
    skewed = {**logged[0], "request_id": "skewed", "features": {**logged[0]["features"]}}
    skewed["features"][features[0]] = (skewed["features"][features[0]] or 0) + 1
    (prediction_log_dir() / "skewed.jsonl").write_text(json.dumps(skewed) + "\n")
    ingest([prediction_log_dir()], source="prediction_log")
    assert run_dbt(["build", "--select", "stg_prediction_log", "predictions", "mon_serving_skew"], quiet=True)
    online = duckdb.connect(str(server["path"])).execute(
        "select version, count(*) from predictions.predictions where kind = 'online' group by version"
    ).fetchall()
    assert dict(online) == {server["first"].version: 4, second.version: 1}
    # served features (by entity id) equal the warehouse's point-in-time values, but the copy
    skew = duckdb.connect(str(server["path"])).execute(
        "select sum(predictions), sum(predictions_with_skew) from monitoring.mon_serving_skew").fetchall()
    assert skew == [(4, 1)]
