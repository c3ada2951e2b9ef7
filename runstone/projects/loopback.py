"""A tracking server on a loopback port for the length of a project run, over the embedded store.

Entry points log with runstone's SDK or with the stock ``mlflow`` client; the latter only
speaks HTTP. When runstone itself logs to the embedded store (no server configured), the
runner serves that store on 127.0.0.1 from a thread of its own process so that both clients,
in the child process, log into the same run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from runstone.config import Settings
from runstone.errors import InvalidState
from runstone.extras import require

START_DEADLINE = 30.0


@contextlib.contextmanager
def serve_embedded(settings: Settings) -> Iterator[str]:
    """Yields the URL of a server of ``settings``' store, stopped on exit."""
    require("server", "A project run over the embedded store (served on loopback to the run)")
    import uvicorn

    from runstone.server.app import create_app

    app = create_app(settings.model_copy(update={"log_requests": False}))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="runstone-loopback", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise InvalidState("Could not start the loopback tracking server for the run.")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.backend.close()
