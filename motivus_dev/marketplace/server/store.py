"""The local marketplace's storage: one SQLite database and a content-addressed blob dir.

Layout of a data directory::

    DATA_DIR/marketplace.sqlite3   users, tokens (sha256 of the token only), algorithms,
                                   roles (owner, maintainer, user), versions (with each file's sha256)
    DATA_DIR/blobs/ab/abcdef...    every stored file, named by its sha256
    DATA_DIR/tmp/                  scratch space of uploads in progress (emptied at start)

Crash safety of a publish: the upload is validated and extracted into a private scratch
dir under ``tmp/``; each file is fsynced there, renamed into ``blobs/`` (atomic on one file
system; the blob dir is fsynced too), and only then is the version row inserted in one
transaction. A kill at any point before the commit leaves at most unreferenced blobs and
scratch files, never a visible version; downloads are served only for blobs that a
committed version references, so an orphan blob is never served either.

Concurrency: every operation opens its own connection (SQLite connections are not shared
between threads), the database is in WAL mode (readers never block the writer) with a busy
timeout, and writes use ``BEGIN IMMEDIATE`` so two writers queue instead of failing on a
lock upgrade. Uniqueness (algorithm names, version names per algorithm) is enforced by the
schema, so two simultaneous pushes of one version cannot both succeed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.validation import (
    ALGORITHM_NAME_RE,
    ROLE_DATA,
    ROLE_LOADER,
    ROLE_WASM,
    ValidatedPackage,
    clean_metadata,
    expected_file_names,
    package_file_name,
    sha256_file,
)

DB_NAME = "marketplace.sqlite3"
TOKEN_KINDS = ("personal", "application")
ROLE_OWNER = "OWNER"
ROLE_MAINTAINER = "MAINTAINER"
ROLE_USER = "USER"
ROLES = (ROLE_OWNER, ROLE_MAINTAINER, ROLE_USER)
#: The roles that may publish versions.
PUBLISHER_ROLES = (ROLE_OWNER, ROLE_MAINTAINER)
#: Token prefixes as the platform's: application tokens read, personal access tokens publish.
TOKEN_PREFIXES = {"application": "MWBat", "personal": "MWBpat"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    inserted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('personal', 'application')),
    token_sha256 TEXT NOT NULL UNIQUE,
    inserted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS algorithms (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    is_public INTEGER NOT NULL DEFAULT 1,
    cost REAL NOT NULL DEFAULT 0,
    charge_schema TEXT NOT NULL DEFAULT 'PER_EXECUTION',
    inserted_at TEXT NOT NULL
);
-- The platform's names are unique whatever their case.
CREATE UNIQUE INDEX IF NOT EXISTS algorithms_name_nocase ON algorithms(name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS algorithm_roles (
    id INTEGER PRIMARY KEY,
    algorithm_id INTEGER NOT NULL REFERENCES algorithms(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('OWNER', 'MAINTAINER', 'USER')),
    cost REAL,
    charge_schema TEXT,
    inserted_at TEXT NOT NULL,
    UNIQUE (algorithm_id, user_id)
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    algorithm_id INTEGER NOT NULL REFERENCES algorithms(id),
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    package_sha256 TEXT NOT NULL,
    package_size INTEGER NOT NULL,
    loader_sha256 TEXT NOT NULL,
    loader_size INTEGER NOT NULL,
    wasm_sha256 TEXT NOT NULL,
    wasm_size INTEGER NOT NULL,
    data_sha256 TEXT,
    data_size INTEGER,
    inserted_at TEXT NOT NULL,
    hash TEXT,
    UNIQUE (algorithm_id, name)
);
CREATE INDEX IF NOT EXISTS versions_package ON versions(package_sha256);
CREATE INDEX IF NOT EXISTS versions_loader ON versions(loader_sha256);
CREATE INDEX IF NOT EXISTS versions_wasm ON versions(wasm_sha256);
CREATE INDEX IF NOT EXISTS versions_data ON versions(data_sha256);
"""


class NotFound(MarketplaceError):
    """A user, algorithm or version that does not exist."""


class AlreadyExists(MarketplaceError):
    """A unique name (user, algorithm, version) is taken."""


def _now() -> str:
    # Phoenix/Ecto style naive UTC timestamp, as the hosted API returns.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain sha256 is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Principal:
    """Who a bearer token belongs to."""

    user_id: int
    user_name: str
    kind: str


@dataclass
class UserRow:
    id: int
    name: str
    inserted_at: str


@dataclass
class VersionRow:
    """A published version and its stored files."""

    id: int
    algorithm_id: int
    algorithm_name: str
    name: str
    metadata: Dict[str, Any]
    package_sha256: str
    package_size: int
    loader_sha256: str
    loader_size: int
    wasm_sha256: str
    wasm_size: int
    data_sha256: Optional[str]
    data_size: Optional[int]
    inserted_at: str
    hash: Optional[str] = None  # what the uploader sent, as the platform stores it (never computed)

    def file_names(self) -> Dict[str, str]:
        """Download file names by role, plus ``package``."""
        names = expected_file_names(self.algorithm_name, self.name)
        names["package"] = package_file_name(self.algorithm_name, self.name)
        return names


@dataclass
class AlgorithmRow:
    """An algorithm with its users and versions (oldest first)."""

    id: int
    name: str
    is_public: bool
    cost: float
    charge_schema: str
    inserted_at: str
    roles: Dict[int, str] = field(default_factory=dict)
    versions: List[VersionRow] = field(default_factory=list)

    def may_publish(self, user_id: int) -> bool:
        return self.roles.get(user_id) in PUBLISHER_ROLES


@dataclass
class RoleRow:
    """A user's role on an algorithm (the platform's ``algorithm_user``)."""

    id: int
    algorithm_id: int
    user_id: int
    user_name: str
    role: str
    cost: Optional[float]
    charge_schema: Optional[str]


class Store:
    """Access to one data directory; cheap to create, safe to use from many threads."""

    def __init__(
        self, data_dir: Path, *, busy_timeout_s: float = 30.0, before_commit: Optional[Callable[[str], None]] = None
    ) -> None:
        """``before_commit(version)`` is called when a publish's blobs are in place, just
        before its row is committed (tests kill the server there)."""
        self.data_dir = Path(data_dir)
        self.before_commit = before_commit
        self.db_path = self.data_dir / DB_NAME
        self.blob_dir = self.data_dir / "blobs"
        self.tmp_dir = self.data_dir / "tmp"
        self.busy_timeout_s = busy_timeout_s
        for directory in (self.data_dir, self.blob_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            _migrate(conn)

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            # isolation_level=None: we issue BEGIN ourselves (BEGIN IMMEDIATE for writes).
            conn = sqlite3.connect(str(self.db_path), timeout=self.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise MarketplaceError(f"cannot open the marketplace database {self.db_path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL is durable across application crashes; FULL also across power loss.
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- maintenance -------------------------------------------------------------------

    def clean_scratch(self) -> int:
        """Remove what interrupted uploads left in ``tmp/`` (call at server start)."""
        removed = 0
        for entry in self.tmp_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed += 1
        return removed

    def integrity_problems(self) -> List[str]:
        """SQLite's integrity check plus a sha256 check of every referenced blob."""
        problems: List[str] = []
        with self._connection() as conn:
            for row in conn.execute("PRAGMA integrity_check"):
                if row[0] != "ok":
                    problems.append(f"database: {row[0]}")
            rows = conn.execute(
                "SELECT package_sha256, loader_sha256, wasm_sha256, data_sha256 FROM versions"
            ).fetchall()
        for row in rows:
            for digest in row:
                if digest is None:
                    continue
                path = self.blob_path(digest)
                if not path.exists():
                    problems.append(f"missing blob {digest}")
                elif sha256_file(path) != digest:
                    problems.append(f"corrupt blob {digest}")
        return problems

    def new_scratch_dir(self) -> Path:
        """A private directory under ``tmp/`` on the blob dir's file system."""
        return Path(tempfile.mkdtemp(prefix="upload-", dir=str(self.tmp_dir)))

    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256

    # -- users and tokens --------------------------------------------------------------

    def add_user(self, name: str) -> UserRow:
        if not ALGORITHM_NAME_RE.match(name):
            raise MarketplaceError(
                f"invalid user name {name!r}", hint="use letters, digits, '.', '_' or '-' (at most 64)"
            )
        with self._write() as conn:
            try:
                cur = conn.execute("INSERT INTO users (name, inserted_at) VALUES (?, ?)", (name, _now()))
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"user {name!r} already exists") from exc
            return UserRow(int(cur.lastrowid or 0), name, _now())

    def get_user(self, name: str) -> UserRow:
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user named {name!r}", hint="add it with `motivus marketplace user add NAME`")
        return UserRow(row["id"], row["name"], row["inserted_at"])

    def user_names(self) -> Dict[int, str]:
        """Every user's name by id."""
        with self._connection() as conn:
            return {row["id"]: row["name"] for row in conn.execute("SELECT id, name FROM users")}

    def create_token(self, user: str, kind: str) -> str:
        """Create a token and return it; only its sha256 is stored."""
        if kind not in TOKEN_KINDS:
            raise MarketplaceError(f"unknown token kind {kind!r}", hint="use 'personal' or 'application'")
        user_row = self.get_user(user)
        token = TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO tokens (user_id, kind, token_sha256, inserted_at) VALUES (?, ?, ?, ?)",
                (user_row.id, kind, hash_token(token), _now()),
            )
        return token

    def authenticate(self, token: str) -> Optional[Principal]:
        if not token:
            return None
        with self._connection() as conn:
            row = conn.execute(
                "SELECT users.id AS uid, users.name AS uname, tokens.kind AS kind FROM tokens "
                "JOIN users ON users.id = tokens.user_id WHERE tokens.token_sha256 = ?",
                (hash_token(token),),
            ).fetchone()
        if row is None:
            return None
        return Principal(row["uid"], row["uname"], row["kind"])

    # -- algorithms --------------------------------------------------------------------

    def create_algorithm(
        self,
        name: str,
        owner_id: int,
        *,
        is_public: bool = True,
        cost: float = 0.0,
        charge_schema: str = "PER_EXECUTION",
    ) -> AlgorithmRow:
        """Create an algorithm whose OWNER is ``owner_id``; names are unique whatever their case."""
        if not ALGORITHM_NAME_RE.match(name):
            raise MarketplaceError(
                f"invalid algorithm name {name!r}",
                hint="use letters and digits, each separator ('-', '_', '.') between two of them",
            )
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO algorithms (name, is_public, cost, charge_schema, inserted_at) VALUES (?, ?, ?, ?, ?)",
                    (name, 1 if is_public else 0, float(cost), charge_schema, _now()),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"algorithm {name!r} already exists") from exc
            algorithm_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO algorithm_roles (algorithm_id, user_id, role, inserted_at) VALUES (?, ?, ?, ?)",
                (algorithm_id, owner_id, ROLE_OWNER, _now()),
            )
        return self.get_algorithm(algorithm_id)

    def update_algorithm(self, algorithm_id: int, changes: Dict[str, Any]) -> AlgorithmRow:
        """Change ``is_public``, ``cost`` and/or ``charge_schema`` (already validated)."""
        columns = {key: changes[key] for key in ("is_public", "cost", "charge_schema") if key in changes}
        if columns:
            assignments = ", ".join(f"{key} = ?" for key in columns)
            with self._write() as conn:
                conn.execute(f"UPDATE algorithms SET {assignments} WHERE id = ?", (*columns.values(), algorithm_id))
        return self.get_algorithm(algorithm_id)

    def add_role(
        self,
        algorithm_id: int,
        user_name: str,
        role: str,
        cost: Optional[float] = None,
        charge_schema: Optional[str] = None,
    ) -> RoleRow:
        """Give ``user_name`` a role on the algorithm; a user has one role per algorithm."""
        user = self.get_user(user_name)
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO algorithm_roles (algorithm_id, user_id, role, cost, charge_schema, inserted_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (algorithm_id, user.id, role, cost, charge_schema, _now()),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"user {user_name!r} already has a role on this algorithm") from exc
        return next(r for r in self.roles(algorithm_id) if r.user_id == user.id)

    def roles(self, algorithm_id: int) -> List[RoleRow]:
        """Every user's role on the algorithm."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT algorithm_roles.*, users.name AS uname FROM algorithm_roles JOIN users"
                " ON users.id = algorithm_roles.user_id WHERE algorithm_id = ? ORDER BY algorithm_roles.id",
                (algorithm_id,),
            ).fetchall()
        return [
            RoleRow(r["id"], r["algorithm_id"], r["user_id"], r["uname"], r["role"], r["cost"], r["charge_schema"])
            for r in rows
        ]

    def add_maintainer(self, algorithm_name: str, user_name: str) -> AlgorithmRow:
        algorithm = self.get_algorithm_by_name(algorithm_name)
        user = self.get_user(user_name)
        if user.id in algorithm.roles:
            raise AlreadyExists(f"user {user_name!r} is already {algorithm.roles[user.id]} of {algorithm_name!r}")
        self.add_role(algorithm.id, user_name, ROLE_MAINTAINER)
        return self.get_algorithm(algorithm.id)

    def _load_algorithms(self, conn: sqlite3.Connection, where: str, args: Tuple[Any, ...]) -> List[AlgorithmRow]:
        rows = conn.execute(f"SELECT * FROM algorithms {where} ORDER BY id", args).fetchall()
        result: List[AlgorithmRow] = []
        for row in rows:
            algorithm = AlgorithmRow(
                id=row["id"],
                name=row["name"],
                is_public=bool(row["is_public"]),
                cost=float(row["cost"]),
                charge_schema=row["charge_schema"],
                inserted_at=row["inserted_at"],
            )
            for role_row in conn.execute(
                "SELECT user_id, role FROM algorithm_roles WHERE algorithm_id = ?", (algorithm.id,)
            ):
                algorithm.roles[role_row["user_id"]] = role_row["role"]
            for v in conn.execute("SELECT * FROM versions WHERE algorithm_id = ? ORDER BY id", (algorithm.id,)):
                algorithm.versions.append(_version_from_row(v, algorithm.name))
            result.append(algorithm)
        return result

    def list_algorithms(self, name: Optional[str] = None) -> List[AlgorithmRow]:
        with self._connection() as conn:
            conn.execute("BEGIN")  # one consistent snapshot of algorithms and versions
            try:
                if name is None:
                    return self._load_algorithms(conn, "", ())
                return self._load_algorithms(conn, "WHERE name = ?", (name,))
            finally:
                conn.execute("COMMIT")

    def get_algorithm(self, algorithm_id: int) -> AlgorithmRow:
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                found = self._load_algorithms(conn, "WHERE id = ?", (algorithm_id,))
            finally:
                conn.execute("COMMIT")
        if not found:
            raise NotFound(f"no algorithm with id {algorithm_id}")
        return found[0]

    def get_algorithm_by_name(self, name: str) -> AlgorithmRow:
        found = self.list_algorithms(name)
        if not found:
            raise NotFound(
                f"no algorithm named {name!r}",
                hint="create it with `motivus marketplace algorithm create NAME --owner USER`",
            )
        return found[0]

    # -- versions ----------------------------------------------------------------------

    def version_exists(self, algorithm_id: int, version: str) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM versions WHERE algorithm_id = ? AND name = ?", (algorithm_id, version)
            ).fetchone()
        return row is not None

    def _install_blob(self, source: Path, sha256: str) -> None:
        """Move an fsynced scratch file to its content address (atomic rename)."""
        dest = self.blob_path(sha256)
        if dest.exists():
            return  # same content already stored: blobs are immutable
        dest.parent.mkdir(exist_ok=True)
        os.replace(source, dest)
        _fsync_dir(dest.parent)

    def publish_version(
        self,
        algorithm: AlgorithmRow,
        package: ValidatedPackage,
        metadata: Dict[str, Any],
        hash: Optional[str] = None,
    ) -> VersionRow:
        """Store a validated package's files and commit its version row.

        Raises :class:`AlreadyExists` when the version name is taken (checked again inside
        the transaction, so a concurrent push of the same version cannot slip through).
        """
        files = package.files
        data = files.get(ROLE_DATA)
        # Blobs are installed under the write lock, so that gc_blobs (which takes it too)
        # never sees the blobs of a publish that is about to commit as orphans.
        with self._write() as conn:
            self._install_blob(package.package_path, package.package_sha256)
            for extracted in package.files.values():
                self._install_blob(extracted.path, extracted.sha256)
            if self.before_commit is not None:
                self.before_commit(package.version)
            try:
                cur = conn.execute(
                    "INSERT INTO versions (algorithm_id, name, metadata, package_sha256, package_size,"
                    " loader_sha256, loader_size, wasm_sha256, wasm_size, data_sha256, data_size,"
                    " inserted_at, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        algorithm.id,
                        package.version,
                        json.dumps(clean_metadata(metadata)),
                        package.package_sha256,
                        package.package_size,
                        files[ROLE_LOADER].sha256,
                        files[ROLE_LOADER].size,
                        files[ROLE_WASM].sha256,
                        files[ROLE_WASM].size,
                        data.sha256 if data else None,
                        data.size if data else None,
                        _now(),
                        hash,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(f"version {package.version!r} of {algorithm.name!r} already exists") from exc
            version_id = int(cur.lastrowid or 0)
            row = conn.execute("SELECT * FROM versions WHERE id = ?", (version_id,)).fetchone()
        return _version_from_row(row, algorithm.name)

    def gc_blobs(self) -> Tuple[int, int]:
        """Remove blobs no committed version references (left by uploads that were lost or
        killed before their commit); returns (files, bytes) removed. Runs under the write
        lock, which publishes hold while they install their blobs."""
        removed, freed = 0, 0
        with self._write() as conn:
            referenced: Set[str] = set()
            for row in conn.execute("SELECT package_sha256, loader_sha256, wasm_sha256, data_sha256 FROM versions"):
                referenced.update(digest for digest in row if digest)
            for path in sorted(self.blob_dir.glob("*/*")):
                if path.is_file() and path.name not in referenced:
                    size = path.stat().st_size
                    path.unlink()
                    removed, freed = removed + 1, freed + size
        return removed, freed

    def find_download(self, sha256: str, file_name: str) -> Optional[Path]:
        """The blob of a committed version's file called ``file_name``, else None."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT versions.*, algorithms.name AS aname FROM versions JOIN algorithms"
                " ON algorithms.id = versions.algorithm_id WHERE package_sha256 = ?1"
                " OR loader_sha256 = ?1 OR wasm_sha256 = ?1 OR data_sha256 = ?1",
                (sha256,),
            ).fetchall()
        for row in rows:
            version = _version_from_row(row, row["aname"])
            digests = {
                "package": version.package_sha256,
                ROLE_LOADER: version.loader_sha256,
                ROLE_WASM: version.wasm_sha256,
                ROLE_DATA: version.data_sha256,
            }
            for role, name in version.file_names().items():
                if name == file_name and digests.get(role) == sha256:
                    return self.blob_path(sha256)
        return None


def _version_from_row(row: sqlite3.Row, algorithm_name: str) -> VersionRow:
    return VersionRow(
        id=row["id"],
        algorithm_id=row["algorithm_id"],
        algorithm_name=algorithm_name,
        name=row["name"],
        metadata=json.loads(row["metadata"]),
        package_sha256=row["package_sha256"],
        package_size=row["package_size"],
        loader_sha256=row["loader_sha256"],
        loader_size=row["loader_size"],
        wasm_sha256=row["wasm_sha256"],
        wasm_size=row["wasm_size"],
        data_sha256=row["data_sha256"],
        data_size=row["data_size"],
        inserted_at=row["inserted_at"],
        hash=row["hash"],
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a data directory made by an earlier kit to this schema: versions get the
    uploader's ``hash``; owners/maintainers move to ``algorithm_roles`` (which has USER)."""
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(versions)")}
    if "hash" not in columns:
        conn.execute("ALTER TABLE versions ADD COLUMN hash TEXT")
    old = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'algorithm_users'").fetchone()
    if old is not None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT OR IGNORE INTO algorithm_roles (algorithm_id, user_id, role, inserted_at)"
            " SELECT algorithm_id, user_id, role, ? FROM algorithm_users",
            (_now(),),
        )
        conn.execute("DROP TABLE algorithm_users")
        conn.execute("COMMIT")


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
