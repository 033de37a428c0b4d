"""The web application for clusters: pages, API and downloads with role-based access and disclosure control.

Public API: create_app(warehouse=None, store_url=None, store=None) -> FastAPI.
"""

from gpcluster.web.app import create_app

__all__ = ["create_app"]
