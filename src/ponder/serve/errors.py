"""Errors as OpenAI error objects: ``{"error": {"message", "type", "param", "code"}}``.

Everything a client can get wrong is answered with a 4xx and one of these objects, never
a 500: malformed JSON and bad parameter values are 400 (as OpenAI answers them, where
FastAPI would say 422), an unknown model is 404, a full queue is 429, a server that is
shutting down answers 503.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ponder.errors import InvalidInput, PonderError


class APIError(Exception):
    """An error the server answers with an OpenAI error object and ``status``."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


class BadRequest(APIError):
    status = 400
    type = "invalid_request_error"


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"


class Overloaded(APIError):
    status = 429
    type = "rate_limit_error"


class Unavailable(APIError):
    status = 503
    type = "server_error"


def error_body(message: str, type: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def model_not_found(model: str) -> NotFound:
    return NotFound(f"The model `{model}` does not exist.", param="model",
                    code="model_not_found")


def _param(loc: tuple[Any, ...]) -> str | None:
    """``("body", "messages", 0, "role")`` -> ``"messages[0].role"``; pydantic's names of
    union members (``str``, ``list[TextPart]``) are left out."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _TYPE_TAGS and "[" not in str(part):
            out += f".{part}" if out else str(part)
    return out or None


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "dict"}


def validation_error(exc: RequestValidationError) -> BadRequest:
    """One pydantic error of a request, worded for an API user: the most specific (of
    a union's alternatives, the one that got furthest into the value)."""
    err = max(exc.errors(), key=lambda e: len(e.get("loc", ())))
    kind, param = err.get("type", ""), _param(tuple(err.get("loc", ())))
    if kind == "json_invalid":
        return BadRequest("We could not parse the JSON body of your request. The body must "
                          "be a JSON object.", code="invalid_json")
    if kind == "extra_forbidden":
        return BadRequest(f"Unrecognized or unsupported request argument supplied: {param}",
                          param=param, code="unknown_parameter")
    if kind == "missing" and param is None:
        return BadRequest("The request body is empty: send a JSON object.",
                          code="invalid_json")
    if kind == "missing":
        return BadRequest(f"Missing required parameter: '{param}'.", param=param,
                          code="missing_required_parameter")
    if param is None or kind == "model_attributes_type":
        return BadRequest("The request body must be a JSON object.", code="invalid_json")
    # pydantic's message names a union member ("str", "list[...]") in a way that suits
    # an API user once prefixed with the parameter.
    return BadRequest(f"Invalid value for '{param}': {err.get('msg', 'invalid value')}.",
                      param=param, code="invalid_value")


def _respond(err: APIError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Turn every failure into an OpenAI error object with the right status."""

    @app.exception_handler(APIError)
    async def _api(_: Request, exc: APIError) -> JSONResponse:
        return _respond(exc, {"Retry-After": "1"} if isinstance(exc, Overloaded) else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _respond(validation_error(exc))

    @app.exception_handler(PonderError)
    async def _ponder(_: Request, exc: PonderError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return _respond(BadRequest(str(exc), code="invalid_value"))
        return JSONResponse(error_body(str(exc), "server_error"), status_code=500)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        body = error_body(str(exc.detail), kind, None, code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # A server-side bug, not bad input: say so without leaking internals.
        body = error_body(f"The server had an error while processing your request "
                          f"({type(exc).__name__}).", "server_error")
        return JSONResponse(body, status_code=500)
