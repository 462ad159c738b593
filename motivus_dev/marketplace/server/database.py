"""The registry's database: an SQLAlchemy engine on SQLite or PostgreSQL (psycopg 3), its
schema brought up to date by Alembic, and the two locks the store's guarantees rest on.

SQLite: every connection is in WAL mode (readers never block the writer) with a busy
timeout and ``synchronous=FULL``; a write transaction starts with ``BEGIN IMMEDIATE`` so two
writers queue instead of failing on a lock upgrade. Only one writer at a time exists, so
the write transaction is also what keeps ``gc`` away from a publish that is storing its
files.

PostgreSQL: several servers share one database, and publishes run in parallel. A publish
holds a *shared* advisory lock for its whole transaction (files stored, then the row
inserted); ``gc`` takes the same lock *exclusively*, so it never sees the files of a publish
that is about to commit as orphans, and a publish killed mid-way releases its lock with
its connection. The schema upgrade takes an exclusive lock of its own, so servers started
together migrate once. Uniqueness (names, one version name per algorithm) is the
database's: a second concurrent insert waits for the first and then fails.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server.location import RegistryLocation, redact_url

_MIGRATIONS = Path(__file__).parent / "migrations"
#: Advisory lock keys (PostgreSQL): any two 64-bit numbers no other program of the database uses.
PUBLISH_LOCK = 0x6D6F7469_76757301  # "motivus" 01
SCHEMA_LOCK = 0x6D6F7469_76757302
_WRITE = "motivus_write"


def open_engine(location: RegistryLocation, *, busy_timeout_s: float = 30.0) -> Engine:
    """An engine for the location's database; the schema is migrated to the newest revision."""
    url = location.database
    if location.is_postgresql:
        engine = _postgresql_engine(url)
    else:
        path = location.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = _sqlite_engine(url, busy_timeout_s)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _postgresql_engine(url: str) -> Engine:
    scheme, rest = url.split(":", 1)
    if "+" not in scheme:
        url = "postgresql+psycopg:" + rest  # psycopg 3, not SQLAlchemy's default psycopg2
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except (ImportError, SQLAlchemyError) as exc:
        raise MarketplaceError(
            f"cannot use the database {redact_url(url)}: {exc}",
            hint="PostgreSQL needs psycopg 3: pip install 'motivus-dev[marketplace]'",
        ) from exc


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (IMMEDIATE for writes): pysqlite's own would be deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL + NORMAL is durable across application crashes; FULL also across power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read transaction (one consistent snapshot on both databases)."""
    with translated(engine):
        with engine.connect() as conn:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield conn


@contextlib.contextmanager
def writing(engine: Engine, *, publish: bool = False, exclusive: bool = False) -> Iterator[Connection]:
    """A write transaction; ``publish`` holds the publish lock shared, ``exclusive`` holds
    it alone (gc). On SQLite the one write transaction is both."""
    with translated(engine):
        with engine.connect().execution_options(**{_WRITE: True}) as conn:
            with conn.begin():
                if engine.dialect.name == "postgresql" and (publish or exclusive):
                    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
                    conn.execute(text(f"SELECT {function}(:key)"), {"key": PUBLISH_LOCK})
                yield conn


@contextlib.contextmanager
def translated(engine: Engine) -> Iterator[None]:
    """Database failures that are not the caller's business become a MarketplaceError."""
    try:
        yield
    except SQLAlchemyError as exc:
        if _is_integrity_error(exc):
            raise
        raise MarketplaceError(
            f"the marketplace database {shown_url(engine)} failed: {_first_line(exc)}",
            hint="check that the database server runs and the URL (user, password, host, port) is right",
        ) from exc


def shown_url(engine: Engine) -> str:
    """The database URL as the user wrote it (no driver name), its password hidden."""
    return redact_url(engine.url.set(drivername=engine.url.get_backend_name()).render_as_string(hide_password=False))


def _is_integrity_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import IntegrityError

    return isinstance(exc, IntegrityError)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


def migrate(engine: Engine) -> None:
    """Bring the schema to Alembic's head under the schema lock; when it is there already
    (every start but the first), one read and no lock, so that opening a registry never
    waits for a writer."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with reading(engine) as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    with writing(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
