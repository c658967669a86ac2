"""Alembic environment: runs on the connection ``JobStore.migrate`` passes in.

There is no alembic.ini: the store builds the Config in code so an installed
package can migrate itself. Offline (SQL script) mode is not supported.
"""

from alembic import context

from reelforge.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through reelforge.store.JobStore.migrate(), which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
