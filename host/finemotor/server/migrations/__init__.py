"""Versioned migrations of the server's schema (Alembic), applied when the server starts."""
