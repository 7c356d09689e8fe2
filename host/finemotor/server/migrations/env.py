"""Alembic's environment: run the migrations on the connection the server hands over.

:func:`finemotor.server.database.migrate` puts an open (synchronous facade of an async)
connection into ``config.attributes["connection"]``; nothing here reads alembic.ini or sets
up logging, so the server's own log settings stay as they are.
"""

from __future__ import annotations

from alembic import context

from finemotor.server.schema import metadata


def run_migrations() -> None:
    """Apply the migrations on the connection handed over by the server."""
    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "config", None) is not None:  # run by Alembic, not merely imported
    run_migrations()
