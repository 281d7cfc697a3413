"""The Flask app factory: the core's routes, each feature's, JSON errors for everything, and
default headers."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from api.features import feature_modules
from api.params import BadParam
from api.routes import DB_ERRORS, bp
from api.settings import ApiSettings, from_environment
from api.state import EXTENSION, AppState, state
from runtime import logs

log = logging.getLogger("gpupulse.api")
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"


def create_app(settings: ApiSettings | None = None) -> Flask:
    """Build the app; with no settings (gunicorn's entry in each worker), parse them from the
    environment and log in the shared format."""
    if settings is None:
        settings, server = from_environment()
        logs.setup(server.log_level)
    app = Flask(__name__, static_folder=None)
    app.extensions[EXTENSION] = AppState(settings, app)
    app.json.sort_keys = False
    app.register_blueprint(bp)
    for feature in feature_modules():
        feature.register(app)
    app.register_error_handler(BadParam, bad_param)
    app.register_error_handler(HTTPException, http_error)
    for error in DB_ERRORS:
        app.register_error_handler(error, database_error)
    app.register_error_handler(Exception, unexpected_error)
    app.after_request(default_headers)
    return app


def bad_param(problem: BadParam) -> tuple[Response, int]:
    """400 naming the parameter and what it may be."""
    return jsonify(problem.body()), 400


def http_error(problem: HTTPException) -> tuple[Response, int, list]:
    """404, 405 and friends as JSON instead of HTML, with their own headers (a 405's Allow)."""
    body = {"error": problem.description or problem.name, "status": problem.code}
    if problem.code == 404:
        body["hint"] = "GET / lists every endpoint"
    headers = [(k, v) for k, v in problem.get_headers() if k.lower() != "content-type"]
    return jsonify(body), problem.code or 500, headers


def database_error(problem: Exception) -> tuple[Response, int]:
    """503 while the database is missing, of another schema, or unreadable."""
    state().readers.reset()  # a broken connection must not outlive this request
    log.warning("database unavailable: %s", problem)
    return jsonify({"error": f"database unavailable: {problem}"}), 503


def unexpected_error(problem: Exception) -> tuple[Response, int]:
    """Last resort: log the traceback, answer JSON without it."""
    log.exception("unhandled error", exc_info=problem)
    return jsonify({"error": "internal error; the server log has the details"}), 500


def default_headers(response: Response) -> Response:
    """nosniff everywhere; a no-scripts CSP unless the route set its own."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    return response
