"""The sync HTTP API (``chitty-sync serve``): the sync.chitty.cc contract (reference/chittyos-
contracts.md section 1, with every fix of 1.4) on FastAPI.

``app.py`` builds the application (middleware: access log, auth gate, body guard), ``routes/``
holds one module per resource, ``models.py`` every body and reply, ``store.py`` every read and
write (hub store, warehouse snapshot), ``runs.py`` the Dagster runs, ``auth.py`` tokens and scopes.
Only the CLI, the tests and the benchmarks import this package.
"""
