"""Alembic environment of the case database (installed as ``recover.migrations``)."""
