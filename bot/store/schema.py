"""The schema check every process makes at start: a new database gets the migrations;
one on another revision stops the process until `python -m bot migrate` has run."""

from __future__ import annotations

from bot.store import SCHEMA_HEAD, Store


class SchemaOutOfDate(RuntimeError):
    """The database is not at this code's migration head."""


async def ensure_schema(store: Store) -> None:
    """A new database gets the migrations; one on another revision stops the bot (run
    `python -m bot migrate`, the Procfile's release step), so that old code never writes
    to a newer schema nor new code to an older one."""
    if await store.schema_revision() == SCHEMA_HEAD:
        return
    from bot.store import migrate  # alembic costs ~12 MB: loaded only when needed

    found = await migrate.status(store.engine, schema=store.schema)
    if found.state is migrate.SchemaState.EMPTY:
        await migrate.upgrade(store.engine, schema=store.schema)
    elif found.state is not migrate.SchemaState.CURRENT:
        raise SchemaOutOfDate(found.describe())
