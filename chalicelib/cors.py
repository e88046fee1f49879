"""Browser access to the API: the stage's allowed origin as Chalice's per-route CORS setting.

Chalice reads a route's CORS setting when app.py is imported, and `chalice package` turns it into
the OPTIONS method that API Gateway answers on its own. So the setting comes from the environment
Chalice gives every function of the stage (`CORS_ALLOWED_ORIGINS`, `.chalice/config.json`), which
is set before app.py is imported, wherever it is imported (packaging, the functions).
"""

from __future__ import annotations

from chalice.app import CORSConfig

from chalicelib.settings import CorsSettings

# Response headers a browser lets the calling page read: where the new order is, when to retry.
EXPOSED_HEADERS = ("Location", "Retry-After")
# How long a browser may reuse a preflight's answer before asking again.
PREFLIGHT_MAX_AGE_SECONDS = 600


def route_cors(settings: CorsSettings) -> CORSConfig | None:
    """The CORS setting of every route; None (no CORS headers at all) when the stage allows no origin."""
    if not settings.cors_allowed_origins:
        return None
    [origin] = settings.cors_allowed_origins  # CorsSettings allows at most one
    return CORSConfig(allow_origin=origin, expose_headers=list(EXPOSED_HEADERS), max_age=PREFLIGHT_MAX_AGE_SECONDS)
