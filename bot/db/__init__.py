"""Persistence: SQLAlchemy 2 models, the engine factory and repositories."""
