"""Operator interfaces of the gateway: REST API, dashboard, metrics and the API CLI.

Importing this package is cheap (no Flask); `gateway.api.app.create_app` builds
the WSGI application and `gateway.api.server.ApiServer` serves it.
"""
