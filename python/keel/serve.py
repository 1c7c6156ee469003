"""`keel serve`: online predictions over HTTP, without ever opening the warehouse.

The server reads three things, all files beside the warehouse: the serving catalog the registry
exports on every change (models, versions, aliases, artifact hashes), the online store
(`keel materialize`), and the artifacts themselves (unpickled only after their sha256 matches the
catalog). Each request checks, with one stat call each, whether the catalog or the store has been
replaced, so a new champion or newly materialized features are picked up without a restart.

Every prediction is appended to a JSON-lines log (request id, model, version, entity, the feature
values used and the online store's clock when they were read, score, time); `keel ingest
--source prediction_log` loads those files like any raw log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat
from starlette.datastructures import QueryParams

from keel.lean_scoring import lean_scorer
from keel.online_store import OnlineStore, store_path
from keel.registry import feature_matrix, load_artifact, positive_scores, serving_catalog_path
from keel.warehouse import warehouse_path

MAX_BODY_BYTES = 1 << 20
DRAIN_BYTES = 16 << 20  # an oversized body is read and dropped up to this, then the connection closed
MAX_ROWS = 1000


def prediction_log_dir() -> Path:
    path = warehouse_path()
    return path.with_name(f"{path.stem}_prediction_logs")


class PredictRequest(BaseModel):
    """Either entity ids (features come from the online store) or full feature rows."""

    model_config = ConfigDict(extra="forbid")
    entities: list[str | int] | None = Field(None, min_length=1, max_length=MAX_ROWS)
    # null is a missing value; NaN and infinity are refused (scikit-learn would refuse infinity)
    rows: list[dict[str, FiniteFloat | int | None]] | None = Field(None, min_length=1, max_length=MAX_ROWS)


class Prediction(BaseModel):
    entity: str | int | None
    score: float


class PredictResponse(BaseModel):
    """The OpenAPI shape of a prediction; the endpoint writes this JSON itself."""

    model: str
    version: int
    request_id: str
    predictions: list[Prediction]


class BodyLimit:
    """Refuse a request whose declared body is over MAX_BODY_BYTES before anything reads it.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware wraps every
    request in extra tasks and streams, which cost more than the prediction itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                # read what the client is still sending (up to a cap) before answering: a server
                # that answers and closes mid-upload leaves most clients with a broken pipe
                # instead of the 413
                drained = 0
                while drained <= DRAIN_BYTES:
                    message = await receive()
                    drained += len(message.get("body", b""))
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                refusal = {"detail": f"request body over {MAX_BODY_BYTES} bytes"}
                return await JSONResponse(refusal, status_code=413)(scope, receive, send)
        return await self.app(scope, receive, send)


class PredictFastPath:
    """The predict endpoint's common case without FastAPI's per-request machinery.

    FastAPI's routing, dependency solving and exception layers cost ~0.25 ms a request, several
    times the prediction itself. A POST of JSON to /v1/models/{model}/predict is parsed as FastAPI
    parses it (json.loads, then PredictRequest; the alias from Starlette's QueryParams) and answered
    by the function the FastAPI endpoint calls, its HTTPException written as FastAPI's handler
    writes it. Anything else, and any body that does not parse and validate, goes on to FastAPI
    unchanged (the body replayed), so validation errors, docs and the OpenAPI schema stay FastAPI's.
    """

    def __init__(self, app, answer):
        self.app = app
        self.answer = answer

    async def __call__(self, scope, receive, send):
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = PREDICT_PATH.fullmatch(scope["path"])
        if match is None or not _is_json(scope["headers"]):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            request = PredictRequest.model_validate(json.loads(body))
        except Exception:  # not ours to word: FastAPI parses it again and answers
            return await self.app(scope, _replay(body), send)
        alias = QueryParams(scope["query_string"]).get("alias", "champion")
        try:
            content, status = self.answer(match[1], request, alias), 200
        except HTTPException as e:
            content, status = _detail(e.detail), e.status_code
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(content)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": content})


PREDICT_PATH = re.compile(r"/v1/models/([^/]+)/predict")


def _detail(detail) -> bytes:
    """An error's body as FastAPI's HTTPException handler writes it (Starlette's JSONResponse)."""
    return json.dumps({"detail": detail}, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _is_json(headers) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def _replay(body: bytes):
    """An ASGI receive that gives `body` again, then waits for the disconnect."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a server's receive: nothing more until the client leaves

    return receive


class Catalog:
    """The serving catalog and loaded artifacts, reloaded when the catalog file is replaced."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp = None
        self.models: dict = {}
        self._scorers: dict = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise HTTPException(503, f"no serving catalog at {self.path}: train and promote a model first") \
                from None
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp != self._stamp:
            with self._lock:
                self.models = json.loads(self.path.read_text())["models"]
                self._stamp = stamp

    def version(self, model: str, alias: str) -> tuple[int, dict]:
        self.refresh()
        if model not in self.models:
            raise HTTPException(404, f"unknown model {model!r}; models: {', '.join(sorted(self.models))}")
        aliases = self.models[model]["aliases"]
        if alias not in aliases:
            raise HTTPException(404, f"model {model} has no alias {alias!r}; aliases: {', '.join(aliases)}")
        version = aliases[alias]
        return version, self.models[model]["versions"][str(version)]

    def scorer(self, model: str, version: int, entry: dict):
        """The version's scores as a function of its feature matrix (positive class probability).

        The artifact's own arithmetic without scikit-learn's per-call checks when `lean_scorer`
        can redo it exactly (checked against `predict_proba` when loaded), else `predict_proba`
        as batch scoring calls it (keel.registry.positive_scores)."""
        key = (model, version, entry["artifact_sha256"])
        if key not in self._scorers:
            with self._lock:
                if key not in self._scorers:
                    try:
                        pipeline = load_artifact(entry["artifact_path"], entry["artifact_sha256"])
                    except RuntimeError as e:
                        raise HTTPException(503, str(e)) from None
                    features = [f["name"] for f in entry["features"]]
                    self._scorers[key] = lean_scorer(pipeline) or partial(positive_scores, pipeline,
                                                                          features=features)
        return self._scorers[key]


class PredictionLog:
    """Appends one JSON line per prediction to a file per UTC day (kept open between requests)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()
        self._day, self._file = None, None

    def write(self, records: list[dict]) -> None:
        text = "".join(json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:
            if day != self._day:
                if self._file:
                    self._file.close()
                self.directory.mkdir(parents=True, exist_ok=True)
                self._day, self._file = day, open(self.directory / f"{day}.jsonl", "a", encoding="utf-8")
            self._file.write(text)
            self._file.flush()


def create_app(catalog_path: Path | None = None, online_path: Path | None = None,
               log_dir: Path | None = None) -> FastAPI:
    catalog = Catalog(catalog_path or serving_catalog_path())
    store = OnlineStore(online_path or store_path())
    log = PredictionLog(log_dir or prediction_log_dir())
    app = FastAPI(title="Keel serving", version="1",
                  description="Predictions from registered models; features from the online store.")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems[:10])}, status_code=422)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "catalog": catalog.path.exists(), "online_store": store.path.exists()}

    @app.get("/v1/models")
    def models() -> dict:
        catalog.refresh()
        return {name: {"entity": m["entity"], "aliases": m["aliases"],
                       "versions": sorted(map(int, m["versions"]))}
                for name, m in catalog.models.items()}

    def answer(model: str, body: PredictRequest, alias: str) -> bytes:
        """The predict endpoint's work: its JSON answer, or an HTTPException."""
        if (body.entities is None) == (body.rows is None):
            raise HTTPException(422, "send exactly one of `entities` (ids) or `rows` (feature values)")
        version, entry = catalog.version(model, alias)
        features = [f["name"] for f in entry["features"]]
        entity = catalog.models[model]["entity"]
        if body.rows is not None:
            rows = body.rows
            for i, row in enumerate(rows):
                missing, extra = set(features) - set(row), set(row) - set(features)
                if missing or extra:
                    raise HTTPException(422, f"rows.{i}: missing {sorted(missing)[:5]}, unexpected "
                                             f"{sorted(extra)[:5]}; features: {', '.join(features)}")
            ids = [None] * len(rows)
            features_as_of = None
        else:
            refs = [f"{f['view']}:{f['name']}" for f in entry["features"]]
            try:
                current = store.current()  # one store file for the values and their clock
                found = current.lookup({entity: [str(e) for e in body.entities]}, refs)
            except (FileNotFoundError, RuntimeError) as e:  # no store, or not one this Keel reads
                raise HTTPException(503, str(e)) from None
            except ValueError as e:  # ids the store's key cannot hold
                raise HTTPException(422, f"entities: {e}") from None
            unknown = [r[entity] for r in found if all(r[f] is None for f in features)]
            if unknown:
                raise HTTPException(404, f"no live features for {entity} {', '.join(map(str, unknown[:10]))}")
            ids = [r[entity] for r in found]
            rows = [{f: r[f] for f in features} for r in found]
            features_as_of = current.clock(entry["features"][0]["view"]).isoformat()
        try:
            scores = catalog.scorer(model, version, entry)(feature_matrix(rows, features))
        except ValueError as e:  # values the model's scaling overflows: the sender's to fix
            if body.rows is None:
                raise
            raise HTTPException(422, f"rows: {e}") from None
        now = datetime.now(UTC).replace(tzinfo=None).isoformat()
        request_id = uuid.uuid4().hex
        out = [{"request_id": request_id, "model": model, "version": version, "entity": e,
                "features": row, "features_as_of": features_as_of, "score": float(s), "served_at": now}
               for e, row, s in zip(ids, rows, scores)]
        log.write(out)
        # serialized here: FastAPI would walk the dict through jsonable_encoder first
        reply = {"model": model, "version": version, "request_id": request_id,
                 "predictions": [{"entity": r["entity"], "score": r["score"]} for r in out]}
        return json.dumps(reply, separators=(",", ":")).encode()

    # async: the work is tens of microseconds of CPU, cheaper than a hop to a worker thread
    @app.post("/v1/models/{model}/predict", response_model=PredictResponse)
    async def predict(model: str, body: PredictRequest, alias: str = "champion") -> Response:
        return Response(answer(model, body, alias), media_type="application/json")

    # the last added runs first: the size limit, then the fast path, then FastAPI
    app.add_middleware(PredictFastPath, answer=answer)
    app.add_middleware(BodyLimit)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
