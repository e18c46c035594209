"""The HTTP app: a thin router over the engine, and helpers to run it.

    GET  /                      the chat page (static, no external resources)
    GET  /health                liveness and queue depth
    GET  /v1/models             the served model
    POST /v1/chat/completions   see ponder.serve.chat
    POST /v1/responses          see ponder.serve.responses
    POST /v1/completions        see ponder.serve.completions (raw text; can be turned off)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse

from ponder.serve.chat import create_chat_completion
from ponder.serve.completions import create_completion
from ponder.serve.engine import Engine
from ponder.serve.errors import install_error_handlers
from ponder.serve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    ModelCard,
    ModelList,
    ResponseObject,
    ResponsesRequest,
)
from ponder.serve.responses import create_response

STATIC = Path(__file__).parent / "static"


def create_app(engine: Engine, progress_s: float = 0.5, completions: bool = True) -> FastAPI:
    """``progress_s``: how often a stream reports progress while the model thinks;
    ``completions``: whether to serve raw text completions (``ponder.serve.completions``)."""
    app = FastAPI(title="ponder", summary="Reasoning models behind an OpenAI-compatible API")
    app.state.engine = engine
    install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": engine.name, "pending": engine.pending}

    @app.get("/v1/models")
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=engine.name)])

    @app.post("/v1/chat/completions", response_model=ChatCompletionResponse)
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        return await create_chat_completion(engine, body, request, progress_s)

    @app.post("/v1/responses", response_model=ResponseObject)
    async def responses(body: ResponsesRequest, request: Request):
        return await create_response(engine, body, request, progress_s)

    if completions:
        @app.post("/v1/completions")
        async def text_completions(body: CompletionRequest) -> dict:
            return await create_completion(engine, body)

    return app


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="info")


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                    timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``app`` from a background thread; yields the base URL. ``port=0`` takes a
    free port (the socket is bound here, so there is no race for it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="ponder-server")
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()
