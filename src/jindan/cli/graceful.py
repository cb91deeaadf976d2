"""uvicorn, stopped the same way by SIGTERM (systemd, Docker, Kubernetes) and Ctrl+C (SIGINT).

On either signal a background index is told to stop at once (it ends within a few texts and releases its
job); uvicorn stops accepting connections and waits for the open ones; the app's answers still
streaming get ``server.shutdown_grace_s`` to finish and then end with an ``error`` event (``Router.stop_streams``);
then the lifespan closes everything (shadow comparisons within ``server.shadow_drain_s``, the model, the
embedded PostgreSQL). uvicorn then raises the signal again with the handler it found at start: under the
default SIGTERM handler that kills the process (exit 143, after which nothing else runs), so ``run`` installs
the server's own handler first, which makes that replay a no-op, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

CLOSE_MARGIN_S = 2.0  # after the grace period: time for the last events to reach the clients


class GracefulServer(uvicorn.Server):
    def __init__(self, app: FastAPI, *, host: str, port: int, log_level: str, grace_s: float) -> None:
        limit = math.ceil(grace_s + CLOSE_MARGIN_S)  # then uvicorn cancels what still runs
        super().__init__(
            uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=limit)
        )
        self.app = app
        self.grace_s = grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._told = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        stop = getattr(self.app.state, "index_stop", None)
        if stop is not None:
            stop.set()  # a background index stops now, while uvicorn still closes its connections
        loop, self._loop = self._loop, None  # the grace period counts from the signal, not uvicorn's next tick
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_streams)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stop_streams()  # also when the stop did not come from a signal
        await super().shutdown(sockets)

    def _stop_streams(self) -> None:
        router = getattr(self.app.state, "router", None)
        if router is not None and not self._told:
            self._told = True
            log.info("stopping: answers in progress have %.0f s to finish", self.grace_s)
            router.stop_streams(self.grace_s)

    def run_until_stopped(self) -> bool:
        """Serve until SIGTERM or SIGINT; False when the server could not start (port taken, startup failed)."""
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            self.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.started
