"""Errors under /api are JSON ({"error": {"code", "message"}}), never an HTML page."""

import logging

from flask import jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException

from app.rejection import Rejected

log = logging.getLogger(__name__)

API_PREFIX = "/api"

try:
    # gunicorn reports a chunked body that breaks its own framing (a bad chunk size, extension
    # or terminator) with these, not with the OSError that Werkzeug answers 400 for.
    from gunicorn.http.errors import ParseException as MalformedBody
except ImportError:  # served by something else: nothing of gunicorn's to catch
    class MalformedBody(Exception):
        pass

MALFORMED_BODY = BadRequest("the request body's chunked encoding is broken; send the request again")


def error_response(code, message, status):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _is_api_request():
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _code_for(exc):
    if exc.code == 413:
        return "payload_too_large"
    return (exc.name or "error").lower().replace(" ", "_")


def _too_large_message(config):
    """Werkzeug raises the same 413 for a body over MAX_CONTENT_LENGTH and for a form with
    too many parts (or too large a text field): only the first is "larger than"."""
    if _body_over_limit(config["MAX_CONTENT_LENGTH"]):
        return f"the upload is larger than {config['MAX_UPLOAD_MB']:g} MB"
    return "the form has too many parts or too large a text field; send one file field named 'image'"


def _body_over_limit(limit):
    if request.content_length is not None:
        return request.content_length > limit
    # A chunked body has no length: Werkzeug stops reading it at the limit.
    return getattr(request.stream, "is_exhausted", True)


def register_error_handlers(app):
    @app.errorhandler(Rejected)
    def handle_rejection(exc):
        return error_response(exc.code, exc.message, exc.status)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc):
        if not _is_api_request():
            return exc
        message = exc.description or exc.name
        if exc.code == 413:
            message = _too_large_message(app.config)
        response = error_response(_code_for(exc), message, exc.code)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(MalformedBody)
    def handle_malformed_body(exc):
        # The client's fault, so a 400, and not logged: gunicorn's message quotes bytes of the upload.
        return handle_http_exception(MALFORMED_BODY)

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api_request():
            return error_response("internal_error", "the server failed on this request", 500)
        return "Internal server error", 500
