"""The hub's web app: a FastAPI application factory composed of routers.

    create_app(settings)      /health, plus every installer in INSTALLERS (WeCom callbacks now;
                              the steward UI and /metrics plug in the same way)
    serve(settings, host, port)   run it with uvicorn (the `hub web` command)

An installer is `install(app, context) -> None`: it includes its router and may add a background
service (anything with start() and stop()) to `context.services`; the app's lifespan starts them
after the database is migrated and stops them in reverse order on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hub.app import web_alerts, web_metrics, web_steward, web_wecom
from hub.core.db import Database, open_database
from hub.core.settings import HubSettings
from hub.core.topology import Topology, build_topology

log = logging.getLogger(__name__)


class Service(Protocol):
    """A background part of the app, started and stopped by its lifespan."""

    def start(self) -> None:
        """Begin work (called once the database is ready)."""

    def stop(self) -> None:
        """Finish the work in hand and release resources."""


@dataclass
class AppContext:
    """What routers share: settings, the database (opened on first use), topology and services."""

    settings: HubSettings
    _db: Database | None = None
    _topology: Topology | None = None
    services: list[Service] = field(default_factory=list)
    owns_db: bool = False

    @property
    def db(self) -> Database:
        """The migrated database (opened here unless the caller gave one)."""
        if self._db is None:
            self._db = open_database(self.settings.database_url.get_secret_value())
            self.owns_db = True
        return self._db

    @property
    def topology(self) -> Topology:
        """The broker topology events are written for."""
        if self._topology is None:
            self._topology = build_topology(self.settings.bus)
        return self._topology

    def close(self) -> None:
        """Dispose of the database pool if this context opened it."""
        if self.owns_db and self._db is not None:
            self._db.dispose()
            self._db = None


Installer = Callable[[FastAPI, AppContext], None]
INSTALLERS: list[Installer] = [web_wecom.install, web_steward.install, web_metrics.install, web_alerts.install]

health = APIRouter(tags=["health"])


@health.get("/health")
def health_check(request: Request) -> JSONResponse:
    """200 when the app runs and its database answers, 503 otherwise."""
    context: AppContext = request.app.state.hub
    try:
        with context.db.reading() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - the reason is logged, never returned
        log.warning("health: database check failed (%s)", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the database, start the services; stop them (reverse order) on shutdown."""
    context: AppContext = app.state.hub
    context.db  # noqa: B018 - opens and migrates before the first request
    started: list[Service] = []
    try:
        for service in context.services:
            service.start()
            started.append(service)
        yield
    finally:
        for service in reversed(started):
            service.stop()
        context.close()


def create_app(settings: HubSettings, *, db: Database | None = None, topology: Topology | None = None,
               installers: list[Installer] | None = None) -> FastAPI:
    """The hub's FastAPI app: /health plus what each installer adds."""
    context = AppContext(settings, db, topology)
    app = FastAPI(title="CRM integration hub", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.hub = context
    app.include_router(health)
    for install in INSTALLERS if installers is None else installers:
        install(app, context)
    return app


def serve(settings: HubSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app with uvicorn until SIGINT/SIGTERM (logging as configured by the hub)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, server_header=False,
                proxy_headers=True, timeout_graceful_shutdown=10)
