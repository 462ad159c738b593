"""The registry's tables (users, tokens, algorithms, roles, versions).

A SQLite data directory made by a kit before Alembic already has them: it is adopted (the
uploader's ``hash`` column added, owners and maintainers moved from ``algorithm_users`` to
``algorithm_roles``) instead of created.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _create_algorithm_roles() -> None:
    op.create_table(
        "algorithm_roles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("algorithm_id", sa.Integer, sa.ForeignKey("algorithms.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("cost", sa.Float),
        sa.Column("charge_schema", sa.Text),
        sa.Column("inserted_at", sa.Text, nullable=False),
        sa.UniqueConstraint("algorithm_id", "user_id", name="algorithm_roles_algorithm_user"),
        sa.CheckConstraint("role IN ('OWNER', 'MAINTAINER', 'USER')", name="algorithm_roles_role"),
    )


def _adopt(bind: sa.engine.Connection, tables: "set[str]") -> None:
    columns = {column["name"] for column in sa.inspect(bind).get_columns("versions")}
    if "hash" not in columns:
        op.add_column("versions", sa.Column("hash", sa.Text))
    if "algorithm_roles" not in tables:
        _create_algorithm_roles()
    if "algorithm_users" in tables:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        bind.execute(
            sa.text(
                "INSERT OR IGNORE INTO algorithm_roles (algorithm_id, user_id, role, inserted_at)"
                " SELECT algorithm_id, user_id, role, :now FROM algorithm_users"
            ),
            {"now": now},
        )
        op.drop_table("algorithm_users")


def upgrade() -> None:
    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())
    if "versions" in tables:
        _adopt(bind, tables)
        return
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("inserted_at", sa.Text, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("token_sha256", sa.Text, nullable=False, unique=True),
        sa.Column("inserted_at", sa.Text, nullable=False),
        sa.CheckConstraint("kind IN ('personal', 'application')", name="tokens_kind"),
    )
    op.create_table(
        "algorithms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("is_public", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
        sa.Column("charge_schema", sa.Text, nullable=False, server_default="PER_EXECUTION"),
        sa.Column("inserted_at", sa.Text, nullable=False),
    )
    op.create_index("algorithms_name_nocase", "algorithms", [sa.text("lower(name)")], unique=True)
    _create_algorithm_roles()
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("algorithm_id", sa.Integer, sa.ForeignKey("algorithms.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("package_sha256", sa.Text, nullable=False),
        sa.Column("package_size", sa.Integer, nullable=False),
        sa.Column("loader_sha256", sa.Text, nullable=False),
        sa.Column("loader_size", sa.Integer, nullable=False),
        sa.Column("wasm_sha256", sa.Text, nullable=False),
        sa.Column("wasm_size", sa.Integer, nullable=False),
        sa.Column("data_sha256", sa.Text),
        sa.Column("data_size", sa.Integer),
        sa.Column("inserted_at", sa.Text, nullable=False),
        sa.Column("hash", sa.Text),
        sa.UniqueConstraint("algorithm_id", "name", name="versions_algorithm_name"),
    )
    for column in ("package_sha256", "loader_sha256", "wasm_sha256", "data_sha256"):
        op.create_index(f"ix_versions_{column}", "versions", [column])


def downgrade() -> None:
    for table in ("versions", "algorithm_roles", "algorithms", "tokens", "users"):
        op.drop_table(table)
