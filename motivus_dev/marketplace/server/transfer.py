"""``motivus marketplace migrate``: copy a whole registry to another location (a data
directory to PostgreSQL + S3, and back), every file's sha256 checked on the way.

Re-running it is harmless: a file the target holds is verified, not copied again; a row the
target holds (same id) is compared, not inserted; a row that differs means the target is
another registry, which is refused before anything is written to its database. The files
go first and the rows in one transaction after them, under the target's publish lock (so a
target server's gc cannot take the copied files for orphans): a version becomes visible in
the target only with all its files stored, and an interrupted copy shows nothing.

Written by hand because no library copies between two SQLAlchemy databases while keeping
ids (the API's algorithm and version ids) and checking what exists.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import RowMapping

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server import schema
from motivus_dev.marketplace.server.blobs import CHUNK, verify
from motivus_dev.marketplace.server.database import reading, writing
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import Store
from motivus_dev.reporter import Reporter


@dataclass
class TransferResult:
    """What a copy did: rows and files copied, and those the target already held."""

    rows_copied: int = 0
    rows_present: int = 0
    files_copied: int = 0
    files_present: int = 0
    bytes_copied: int = 0


def copy_registry(source: RegistryLocation, target: RegistryLocation, reporter: Reporter) -> TransferResult:
    """Copy every user, token, algorithm, role and version, with their files, to ``target``."""
    if (source.database, source.blobs) == (target.database, target.blobs):
        raise MarketplaceError("the source and the target are the same registry", hint="give another --to")
    result = TransferResult()
    with Store(source) as src, Store(target) as dst:
        with reading(src.engine) as conn:
            rows = {table.name: conn.execute(select(table).order_by(table.c.id)).mappings().all()
                    for table in schema.TABLES}
        digests = sorted(
            {row[column] for row in rows["versions"] for column in schema.DIGEST_COLUMNS if row[column]}
        )
        reporter.info(
            f"copying {len(rows['versions'])} version(s) and {len(digests)} file(s) "
            f"from {source.describe()} to {target.describe()}"
        )
        with writing(dst.engine, publish=True) as conn:
            _check_rows(conn, rows)
            reporter.step("files", total=len(digests))
            for digest in digests:
                _copy_file(src, dst, digest, result, reporter)
                reporter.advance()
            reporter.step("rows", total=len(schema.TABLES))
            for table in schema.TABLES:
                present = {row["id"] for row in conn.execute(select(table.c.id)).mappings()}
                missing = [dict(row) for row in rows[table.name] if row["id"] not in present]
                if missing:
                    conn.execute(insert(table), missing)
                result.rows_copied += len(missing)
                result.rows_present += len(rows[table.name]) - len(missing)
                reporter.advance()
            if dst.engine.dialect.name == "postgresql":
                for table in schema.TABLES:  # inserts with explicit ids leave the sequences behind
                    conn.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                             f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)")
                    )
    reporter.info(
        f"copied {result.rows_copied} row(s) ({result.rows_present} already there) and {result.files_copied} "
        f"file(s), {result.bytes_copied:,} bytes ({result.files_present} already there, checked)"
    )
    return result


def _check_rows(conn: Any, rows: Mapping[str, Sequence[RowMapping]]) -> None:
    """Refuse a target whose rows of the same ids say something else."""
    for table in schema.TABLES:
        wanted = {row["id"]: row for row in rows[table.name]}
        if not wanted:
            continue
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if not count:
            continue
        for row in conn.execute(select(table).where(table.c.id.in_(list(wanted)))).mappings():
            theirs, ours = _comparable(row), _comparable(wanted[row["id"]])
            if theirs != ours:
                column = next(key for key in ours if ours[key] != theirs.get(key))
                raise MarketplaceError(
                    f"the target already holds another registry: {table.name} row {row['id']} differs "
                    f"({column}: {theirs.get(column)!r} there, {ours[column]!r} here)",
                    hint="migrate into an empty database and blob store",
                )


def _comparable(row: Any) -> Dict[str, Any]:
    return {key: (int(value) if isinstance(value, bool) else value) for key, value in row.items()}


def _copy_file(src: Store, dst: Store, digest: str, result: TransferResult, reporter: Reporter) -> None:
    if dst.blobs.has(digest):
        problem = verify(dst.blobs, digest)
        if problem is None:
            result.files_present += 1
            return
        reporter.warning(f"the target's {problem}: copying it again")
        dst.blobs.delete(digest)
    scratch = dst.new_scratch_dir()
    try:
        path = scratch / digest
        hasher = hashlib.sha256()
        size = 0
        try:
            with src.blobs.open(digest) as stream, open(path, "wb") as out:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except FileNotFoundError as exc:
            raise MarketplaceError(
                f"the source has no file {digest}, which a version names",
                hint="restore it from a backup of the source's files; nothing was copied into the database",
            ) from exc
        if hasher.hexdigest() != digest:
            raise MarketplaceError(
                f"the source's file {digest} is corrupt (its sha256 is {hasher.hexdigest()})",
                hint="restore it from a backup of the source's files; nothing was copied into the database",
            )
        dst.blobs.put(digest, path)
        result.files_copied += 1
        result.bytes_copied += size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
