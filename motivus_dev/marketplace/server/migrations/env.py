"""Alembic's environment for the registry: migrations run on the connection the kit passes
(``config.attributes["connection"]``), inside the transaction it has begun under its schema
lock (motivus_dev/marketplace/server/database.py), never from an alembic.ini."""

from alembic import context

from motivus_dev.marketplace.server.schema import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it, which Alembic's batch mode does.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
