"""Veille's storage layer: models, migrations and repositories over SQLAlchemy.

This package is a library: it receives a database URL or a session and never reads
settings or the environment. Nothing here imports the rest of Veille.
"""
