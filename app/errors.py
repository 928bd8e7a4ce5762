"""Errors under /api are JSON ({"error": {"code", "message"}}), never an HTML page."""

import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from app.rejection import Rejected

log = logging.getLogger(__name__)

API_PREFIX = "/api"


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
            limit = app.config["MAX_UPLOAD_MB"]
            message = f"the upload is larger than {limit:g} MB"
        response = error_response(_code_for(exc), message, exc.code)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api_request():
            return error_response("internal_error", "the server failed on this request", 500)
        return "Internal server error", 500
