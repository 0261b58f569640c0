"""Migrations: run on a SQLite file and, with TEST_DATABASE_URL, on PostgreSQL (a schema per test)."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from bot.store import KeyBox, Store, migrate
from bot.store.db import create_all, make_engine
from bot.store.migrate import MigrationError, SchemaState

PG_URL = os.environ.get("TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent
PANEL = "https://panel.example/api/v2"
KEY = "0123456789abcdef0123456789abcdef"
USER = 7_000_000_000
SECRET = "operator pasted this passphrase"
HEAD = migrate.head()  # this code's newest revision
LATER = "9999"  # a revision of a later version (see `newer_code`)


@dataclass
class Database:
    """An empty database for one test, as `Store(url, schema=schema)` would open it."""

    url: str
    schema: str | None = None

    async def execute(self, *statements: str) -> None:
        engine = make_engine(self.url, schema=self.schema)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    async def scalar(self, statement: str) -> object:
        engine = make_engine(self.url, schema=self.schema)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(statement))).scalar()
        finally:
            await engine.dispose()

    async def tables(self) -> set[str]:
        engine = make_engine(self.url, schema=self.schema)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    async def create_all(self) -> None:
        """The tables as the bot made them before migrations: no version table."""
        engine = make_engine(self.url, schema=self.schema)
        try:
            await create_all(engine)
        finally:
            await engine.dispose()

    async def upgrade(self, revision: str = "head") -> None:
        await migrate.upgrade(self.url, schema=self.schema, revision=revision)

    async def status(self) -> migrate.SchemaStatus:
        return await migrate.status(self.url, schema=self.schema)

    async def check(self) -> SchemaState:
        return await migrate.check(self.url, schema=self.schema)

    async def diff(self) -> list[object]:
        return await migrate.diff(self.url, schema=self.schema)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")),
    ]
)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database(url=f"sqlite:///{tmp_path / 'bot.db'}")
        return
    assert PG_URL is not None
    schema = f"test_migrate_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        # The form hosting platforms hand out: accepted as it is.
        yield Database(url=PG_URL.replace("postgresql://", "postgres://", 1), schema=schema)
    finally:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


# --- revisions -----------------------------------------------------------------------------


def test_revisions_form_one_line_from_0001() -> None:
    """One head, every script on the line from it down to the initial revision 0001."""
    line = [script.revision for script in migrate._script().walk_revisions()]  # head first
    files = list((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert line[0] == migrate.head() and line[-1] == "0001"
    assert len(line) == len(files)


def test_revision_scripts_are_self_contained() -> None:
    """A script must keep running when the models move on: no model or sqlmodel imports."""
    scripts = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert scripts
    for script in scripts:
        imported: set[str] = set()
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        assert not {name for name in imported if name.startswith(("bot", "sqlmodel"))}, script.name


def test_migrations_ship_inside_the_package() -> None:
    assert migrate.MIGRATIONS_DIR == ROOT / "bot" / "store" / "migrations"
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert 'package-data' in (ROOT / "pyproject.toml").read_text()


# --- upgrade and check ---------------------------------------------------------------------


async def test_upgrade_from_empty_reaches_head(database: Database) -> None:
    assert await database.check() is SchemaState.EMPTY
    assert await migrate.current(database.url, schema=database.schema) is None

    await database.upgrade()

    assert await migrate.current(database.url, schema=database.schema) == migrate.head()
    assert await database.check() is SchemaState.CURRENT
    status = await database.status()
    assert status.describe() == f"Database at revision {HEAD} (head)."
    await database.upgrade()  # nothing left to do
    assert await database.check() is SchemaState.CURRENT


async def test_upgrading_a_0003_database_drops_the_catalog_snapshots(database: Database) -> None:
    """0004: the table nothing reads any more goes, with what an older bot left in it;
    going back to 0003 makes it again, empty."""
    await database.upgrade("0003")
    await database.execute(
        "INSERT INTO catalog_snapshots (panel_fingerprint, fetched_at, payload) VALUES ('fp', CURRENT_TIMESTAMP, '[]')"
    )
    await database.upgrade()
    assert "catalog_snapshots" not in await database.tables()
    assert {"users", "orders", "panel_facts"} <= await database.tables()
    assert await database.check() is SchemaState.CURRENT

    await migrate.downgrade(database.url, "0003", schema=database.schema)
    assert "catalog_snapshots" in await database.tables()
    assert await database.scalar("SELECT count(*) FROM catalog_snapshots") == 0


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    await database.upgrade()
    differences = await database.diff()
    assert differences == [], (
        "bot/store/models.py and the migrations disagree. Add a revision: "
        '`python -m bot.store.migrate revision "what changed" --rev-id NNNN`, review it, and '
        f"check it on both databases. Differences: {differences}"
    )


async def test_schema_drift_is_detected(database: Database) -> None:
    """The comparison above is not vacuous: a changed database shows up."""
    await database.upgrade()
    await database.execute(
        "DROP INDEX ix_orders_final",
        "ALTER TABLE orders ADD COLUMN note VARCHAR",
    )
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in await database.diff()}  # type: ignore[index]
    assert {"remove_column", "add_index"} <= kinds


async def test_version_table_lives_in_the_schema(database: Database) -> None:
    await database.upgrade()
    if database.schema is None:
        assert await database.scalar("SELECT version_num FROM alembic_version") == HEAD
        return
    found = await database.scalar(
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = '{database.schema}' AND table_name IN ('alembic_version', 'orders')"
    )
    assert found == 2


async def test_tables_without_migrations_are_behind_then_adopted(database: Database) -> None:
    await database.create_all()
    status = await database.status()
    assert status.state is SchemaState.BEHIND and status.unversioned and status.revision is None
    assert "created without migrations" in status.describe()

    await database.upgrade()  # the tables match the models: stamped, nothing recreated

    assert await database.check() is SchemaState.CURRENT
    assert await database.diff() == []


async def test_tables_without_migrations_that_differ_are_refused(database: Database) -> None:
    await database.create_all()
    await database.execute("DROP INDEX ix_orders_final")
    with pytest.raises(MigrationError, match=f"--stamp {HEAD}"):
        await database.upgrade()
    assert (await database.status()).unversioned  # nothing was recorded

    await database.execute("CREATE INDEX ix_orders_final ON orders (final)")  # fixed by hand
    await migrate.stamp(database.url, HEAD, schema=database.schema)
    assert await database.check() is SchemaState.CURRENT


async def test_unknown_revision(database: Database) -> None:
    await database.upgrade()
    await database.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")

    status = await database.status()
    assert status.state is SchemaState.UNKNOWN
    assert SchemaState["AHEAD"] is SchemaState.UNKNOWN  # the same state, by its other name
    assert status.revision == "f00dcafe"
    assert "does not know" in status.describe()
    with pytest.raises(MigrationError, match="f00dcafe"):
        await database.upgrade()


@pytest.fixture
def newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The migrations of a later version: these plus a LATER one that adds an index."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{LATER}_later.py").write_text(
        '"""A later change."""\n'
        "from alembic import op\n\n"
        f'revision = "{LATER}"\n'
        f'down_revision = "{HEAD}"\n'
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_index("ix_orders_status", "orders", ["status"])\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_index("ix_orders_status", table_name="orders")\n'
    )
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", folder)
    return folder


async def test_older_revision_is_behind_and_upgrades(database: Database, newer_code: Path) -> None:
    assert migrate.head() == LATER
    await database.upgrade(HEAD)

    status = await database.status()
    assert (status.state, status.revision, status.head) == (SchemaState.BEHIND, HEAD, LATER)
    assert f"behind head {LATER}" in status.describe()

    await database.upgrade()
    assert await migrate.current(database.url, schema=database.schema) == LATER
    assert await database.check() is SchemaState.CURRENT


async def test_downgrade_to_base_empties_the_database(database: Database) -> None:
    await database.upgrade()
    await migrate.downgrade(database.url, "base", schema=database.schema)
    assert await database.check() is SchemaState.EMPTY
    await database.upgrade()
    assert await database.check() is SchemaState.CURRENT


async def test_concurrent_upgrades_both_succeed(database: Database) -> None:
    """A `release:` step and a start-up may migrate at once: one waits for the other."""
    await asyncio.gather(database.upgrade(), database.upgrade(), database.upgrade())
    assert await database.check() is SchemaState.CURRENT


# --- the migrated database in use ------------------------------------------------------------


async def test_store_works_on_the_migrated_database(database: Database) -> None:
    store = Store(database.url, keybox=KeyBox(SECRET), schema=database.schema)
    try:
        # The functions also take an engine (the store's own, which stays open).
        await migrate.upgrade(store.engine, schema=database.schema)
        assert await migrate.check(store.engine, schema=database.schema) is SchemaState.CURRENT
        await store.ensure_user(USER, "en")
        account = await store.link_account(USER, PANEL, KEY, "USD")
        team = await store.link_account(None, PANEL, KEY, "USD")
        assert account.id is not None and team.id is not None and account.id != team.id
        assert store.reveal_key(account) == KEY
        draft = await store.create_draft(USER, account.id, {"id": 101, "name": "Followers"}, {"quantity": "100"})
        assert draft.id is not None
        assert await store.claim_draft(draft.id, USER)
        assert not await store.claim_draft(draft.id, USER)  # exactly one claim
        order = await store.record_placement(draft.id, 9_876_543_210_123, charge=Decimal("0.27819"))
        fetched = await store.get_order(USER, 9_876_543_210_123)
        assert fetched is not None and fetched.id == order.id
        assert fetched.charge == Decimal("0.27819000")
        assert fetched.created_at.tzinfo is not None
    finally:
        await store.dispose()


async def test_team_account_is_one_per_panel(database: Database) -> None:
    """The partial unique index: one shared (user_id NULL) account per panel."""
    await database.upgrade()
    columns = "(user_id, panel_url, key_encrypted, key_hint, key_fingerprint, paused, created_at)"

    def row(user: str, panel: str) -> str:
        return f"INSERT INTO panel_accounts {columns} VALUES ({user}, '{panel}', 'k', 'h', 'f', false, CURRENT_TIMESTAMP)"

    await database.execute(row("NULL", PANEL), row("5", PANEL), row("NULL", PANEL + "/other"))
    with pytest.raises(IntegrityError):
        await database.execute(row("NULL", PANEL))
    with pytest.raises(IntegrityError):
        await database.execute(row("5", PANEL))


# --- python -m bot migrate -------------------------------------------------------------------


def _migrate_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in {"DATABASE_URL", "TELEGRAM_TOKEN"}}
    env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _migrate_command(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate", *args],
        cwd=tmp_path,  # no .env from the checkout
        env=_migrate_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_command_upgrades_then_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'bot.db'}"

    check = _migrate_command(tmp_path, url, "--check")
    assert check.returncode == 1, check.stderr
    assert "empty" in check.stdout

    first = _migrate_command(tmp_path, url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"Database upgraded from empty to revision {HEAD} (head)."

    again = _migrate_command(tmp_path, url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"Database at revision {HEAD} (head)."

    check = _migrate_command(tmp_path, url, "--check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"Database at revision {HEAD} (head)."


def test_migrate_command_never_prints_the_password(tmp_path: Path) -> None:
    result = _migrate_command(tmp_path, "postgres://bot:s3cret-pw@127.0.0.1:1/bot")
    assert result.returncode == 1
    assert "Database error" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_migrate_commands_at_once_on_a_new_sqlite_file(tmp_path: Path) -> None:
    """Two processes migrating a database file that does not exist yet: both succeed."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "migrate"],
            cwd=tmp_path,
            env=_migrate_env(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == [
        f"Database at revision {HEAD} (head).",
        f"Database at revision {HEAD} (head).",
        f"Database upgraded from empty to revision {HEAD} (head).",
    ]


def test_the_start_up_check_knows_the_newest_migration() -> None:
    from bot.store import SCHEMA_HEAD
    from bot.store.migrate import head

    assert SCHEMA_HEAD == head(), "bump bot.store.SCHEMA_HEAD with each new migration"
