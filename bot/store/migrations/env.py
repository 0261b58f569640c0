"""Alembic environment, configured in code by `bot.store.migrate` (there is no alembic.ini).

`bot.store.migrate` hands over an open connection (`config.attributes["connection"]`), so
the check, the lock and the upgrade share one transaction. Without one (alembic's own
commands on a Config built by `bot.store.migrate.make_config(url=...)`), this opens the
bot's async engine and runs the same code through `connection.run_sync`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bot.store.db import make_engine, normalize_url
from bot.store.migrate import context_options
from bot.store.models import metadata

config = context.config
schema: str | None = config.attributes.get("schema")


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass url= to bot.store.migrate.make_config")
    return str(url)


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        **context_options(connection.dialect.name, schema),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(_url(), schema=schema)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """`--sql` mode: print the DDL instead of running it."""
    url = normalize_url(_url())
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(dialect, schema),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    do_run_migrations(connection)
elif context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
