"""The registry's tables, in SQLAlchemy Core: the one description both databases use.

Alembic's migrations (``migrations/versions``) are frozen copies, as Alembic intends;
tests/unit/test_marketplace_schema.py checks on SQLite and PostgreSQL that migrating an
empty database gives exactly these tables. Timestamps are the platform's naive UTC strings
(``2026-12-07T14:10:16``), stored as text so both databases return them unchanged.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("inserted_at", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("token_sha256", Text, nullable=False, unique=True),
    Column("inserted_at", Text, nullable=False),
    CheckConstraint("kind IN ('personal', 'application')", name="tokens_kind"),
)

algorithms = Table(
    "algorithms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("is_public", Boolean, nullable=False, server_default="1"),
    Column("cost", Float, nullable=False, server_default="0"),
    Column("charge_schema", Text, nullable=False, server_default="PER_EXECUTION"),
    Column("inserted_at", Text, nullable=False),
)
# The platform's names are unique whatever their case.
Index("algorithms_name_nocase", func.lower(algorithms.c.name), unique=True)

algorithm_roles = Table(
    "algorithm_roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("algorithm_id", Integer, ForeignKey("algorithms.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("role", Text, nullable=False),
    Column("cost", Float),
    Column("charge_schema", Text),
    Column("inserted_at", Text, nullable=False),
    UniqueConstraint("algorithm_id", "user_id", name="algorithm_roles_algorithm_user"),
    CheckConstraint("role IN ('OWNER', 'MAINTAINER', 'USER')", name="algorithm_roles_role"),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("algorithm_id", Integer, ForeignKey("algorithms.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("package_sha256", Text, nullable=False, index=True),
    Column("package_size", Integer, nullable=False),
    Column("loader_sha256", Text, nullable=False, index=True),
    Column("loader_size", Integer, nullable=False),
    Column("wasm_sha256", Text, nullable=False, index=True),
    Column("wasm_size", Integer, nullable=False),
    Column("data_sha256", Text, index=True),
    Column("data_size", Integer),
    Column("inserted_at", Text, nullable=False),
    Column("hash", Text),
    UniqueConstraint("algorithm_id", "name", name="versions_algorithm_name"),
)

#: Copy order for ``motivus marketplace migrate`` (every table after those it refers to).
TABLES = (users, tokens, algorithms, algorithm_roles, versions)
#: The columns of ``versions`` that name stored files.
DIGEST_COLUMNS = ("package_sha256", "loader_sha256", "wasm_sha256", "data_sha256")
