"""`/metrics` for the web app: a FastAPI router over an injected CollectorRegistry.

    INSTALLERS = [..., web_metrics.install, web_alerts.install]   # in hub.app.web (metrics first)

or by hand: `app.include_router(metrics_router(web_registry(rt)))`. The database collectors read
hub tables at scrape time, so syncs run by Airflow show up here too. `install` also leaves the
app's HubMetrics on `app.state.hub_metrics` for the other routers (alert forwarding counts there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from hub.app.runtime import Runtime
from hub.core.metrics import HubMetrics, register_collectors


def web_registry(rt: Runtime, *, tiers_file: Path | None = None, broker: bool = True) -> CollectorRegistry:
    """A registry for the web process: HubMetrics definitions plus database (and broker) collectors."""
    from hub.app.ops_settings import worker_settings
    from hub.app.worker import _stream_tiers

    settings = worker_settings(rt.settings)
    if tiers_file is not None:
        settings = settings.model_copy(update={"tiers_path": tiers_file})
    registry = CollectorRegistry()
    HubMetrics(registry)
    topology = rt.topology
    register_collectors(registry, rt.db, stream_tiers=_stream_tiers(settings),
                        bus=rt.settings.bus if broker else None, queues=[q.name for q in topology.queues],
                        dead_queue=topology.dead_queue.name)
    return registry


def metrics_router(registry: CollectorRegistry, path: str = "/metrics") -> APIRouter:
    """A router serving the registry in the text (or OpenMetrics, when asked) exposition format."""
    router = APIRouter(tags=["monitoring"])

    @router.get(path, include_in_schema=False)
    def metrics(request: Request) -> Response:  # sync: collectors do blocking I/O, FastAPI runs it in a thread
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(content=encoder(registry), media_type=content_type)

    return router


def install(app: FastAPI, context: Any) -> None:
    """hub.app.web installer: /metrics over a fresh registry; the database is opened at the first scrape."""
    from hub.app.ops_settings import worker_settings
    from hub.app.worker import _stream_tiers

    settings = worker_settings(context.settings)
    registry = CollectorRegistry()
    app.state.hub_metrics = HubMetrics(registry)
    topology = context.topology
    register_collectors(registry, lambda: context.db, stream_tiers=_stream_tiers(settings),
                        bus=context.settings.bus if settings.broker_metrics else None,
                        queues=[q.name for q in topology.queues], dead_queue=topology.dead_queue.name)
    app.include_router(metrics_router(registry))
