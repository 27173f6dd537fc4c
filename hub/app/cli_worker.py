"""`hub worker`: the long-running real-time process (mounted on the `hub` group by hub.app.cli)."""

from __future__ import annotations

import sys

import click

from hub.core.errors import HubError


@click.command("worker")
@click.option("--component", "-c", "components", multiple=True,
              help="run this component (repeatable); default: HUB_WORKER__COMPONENTS")
def worker(components: tuple[str, ...]) -> None:
    """Run the relay, consumers and realtime pollers until SIGTERM (finishing the batches in hand)."""
    from hub.app.ops_settings import worker_settings
    from hub.app.runtime import configure_logging, runtime
    from hub.app.worker import run_worker
    from hub.core.settings import get_settings

    rt = None
    try:
        settings = get_settings()
        configure_logging(settings.log_level)
        rt = runtime(settings)
        code = run_worker(rt, worker_settings(settings), list(components) or None)
    except HubError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        if rt is not None:
            rt.close()
    sys.exit(code)


if __name__ == "__main__":
    worker()
