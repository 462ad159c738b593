"""The marketplace's storage: metadata in a database (SQLite or PostgreSQL, database.py)
and package files in a content-addressed blob store (a directory or an S3 bucket, blobs.py).

Crash safety of a publish: the upload is validated and extracted into a private scratch
dir; its files are stored as blobs, and only then is the version row inserted, all in one
write transaction. A kill at any point before the commit leaves at most unreferenced blobs
and scratch files, never a visible version; downloads are served only for blobs that a
committed version references, so an orphan blob is never served either, and ``gc_blobs``
(which the write transaction or, on PostgreSQL, the publish lock keeps out of a publish in
progress) removes it.

Uniqueness (user and algorithm names, version names per algorithm) is the database's, so
two simultaneous pushes of one version, through one server or two, cannot both succeed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server import schema
from motivus_dev.marketplace.server.blobs import PRESIGN_SECONDS, BlobStore, open_blobs, verify
from motivus_dev.marketplace.server.database import open_engine, reading, writing
from motivus_dev.marketplace.server.location import RegistryLocation, as_location
from motivus_dev.marketplace.validation import (
    ALGORITHM_NAME_RE,
    ROLE_DATA,
    ROLE_LOADER,
    ROLE_WASM,
    ValidatedPackage,
    clean_metadata,
    expected_file_names,
    package_file_name,
)

TOKEN_KINDS = ("personal", "application")
ROLE_OWNER = "OWNER"
ROLE_MAINTAINER = "MAINTAINER"
ROLE_USER = "USER"
ROLES = (ROLE_OWNER, ROLE_MAINTAINER, ROLE_USER)
#: The roles that may publish versions.
PUBLISHER_ROLES = (ROLE_OWNER, ROLE_MAINTAINER)
#: Token prefixes as the platform's: application tokens read, personal access tokens publish.
TOKEN_PREFIXES = {"application": "MWBat", "personal": "MWBpat"}



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

    def digests(self) -> Dict[str, Optional[str]]:
        """Each file's sha256 by role, plus ``package``."""
        return {
            "package": self.package_sha256,
            ROLE_LOADER: self.loader_sha256,
            ROLE_WASM: self.wasm_sha256,
            ROLE_DATA: self.data_sha256,
        }

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
    """Access to one registry; safe to use from many threads. Close it when done."""

    def __init__(
        self,
        where: Union[Path, str, RegistryLocation],
        *,
        busy_timeout_s: float = 30.0,
        before_commit: Optional[Callable[[str], None]] = None,
    ) -> None:
        """``where``: a data directory (the embedded defaults) or a :class:`RegistryLocation`.
        ``before_commit(version)`` is called when a publish's blobs are in place, just before
        its row is committed (tests kill the server there)."""
        self.location = as_location(where)
        self.before_commit = before_commit
        self.blobs: BlobStore = open_blobs(self.location)
        try:
            self.engine = open_engine(self.location, busy_timeout_s=busy_timeout_s)
        except BaseException:
            self.blobs.close()
            raise

    def close(self) -> None:
        self.engine.dispose()
        self.blobs.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- maintenance -------------------------------------------------------------------

    def clean_scratch(self) -> int:
        """Remove what interrupted uploads left in scratch space (call at server start)."""
        return self.blobs.clean_scratch()

    def referenced_digests(self) -> Set[str]:
        """The sha256 of every file a committed version names."""
        with reading(self.engine) as conn:
            return _referenced(conn)

    def integrity_problems(self) -> List[str]:
        """SQLite's own integrity check (on SQLite) and a sha256 check of every referenced blob."""
        problems: List[str] = []
        if self.engine.dialect.name == "sqlite":
            with reading(self.engine) as conn:
                for row in conn.exec_driver_sql("PRAGMA integrity_check"):
                    if row[0] != "ok":
                        problems.append(f"database: {row[0]}")
        for digest in sorted(self.referenced_digests()):
            problem = verify(self.blobs, digest)
            if problem:
                problems.append(problem)
        return problems

    def new_scratch_dir(self) -> Path:
        """A private directory for one upload (beside the blobs when they are local)."""
        return Path(tempfile.mkdtemp(prefix="upload-", dir=str(self.blobs.scratch_root())))

    # -- users and tokens --------------------------------------------------------------

    def add_user(self, name: str) -> UserRow:
        if not ALGORITHM_NAME_RE.match(name):
            raise MarketplaceError(
                f"invalid user name {name!r}", hint="use letters, digits, '.', '_' or '-' (at most 64)"
            )
        now = _now()
        try:
            with writing(self.engine) as conn:
                user_id = conn.execute(
                    insert(schema.users).values(name=name, inserted_at=now).returning(schema.users.c.id)
                ).scalar_one()
        except IntegrityError as exc:
            raise AlreadyExists(f"user {name!r} already exists") from exc
        return UserRow(int(user_id), name, now)

    def get_user(self, name: str) -> UserRow:
        with reading(self.engine) as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user named {name!r}", hint="add it with `motivus marketplace user add NAME`")
        return UserRow(row["id"], row["name"], row["inserted_at"])

    def user_names(self) -> Dict[int, str]:
        """Every user's name by id."""
        with reading(self.engine) as conn:
            return {row.id: row.name for row in conn.execute(select(schema.users.c.id, schema.users.c.name))}

    def create_token(self, user: str, kind: str) -> str:
        """Create a token and return it; only its sha256 is stored."""
        if kind not in TOKEN_KINDS:
            raise MarketplaceError(f"unknown token kind {kind!r}", hint="use 'personal' or 'application'")
        user_row = self.get_user(user)
        token = TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)
        with writing(self.engine) as conn:
            conn.execute(
                insert(schema.tokens).values(
                    user_id=user_row.id, kind=kind, token_sha256=hash_token(token), inserted_at=_now()
                )
            )
        return token

    def authenticate(self, token: str) -> Optional[Principal]:
        if not token:
            return None
        users, tokens = schema.users, schema.tokens
        with reading(self.engine) as conn:
            row = conn.execute(
                select(users.c.id, users.c.name, tokens.c.kind)
                .join_from(tokens, users, users.c.id == tokens.c.user_id)
                .where(tokens.c.token_sha256 == hash_token(token))
            ).first()
        if row is None:
            return None
        return Principal(row.id, row.name, row.kind)

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
        try:
            with writing(self.engine) as conn:
                algorithm_id = conn.execute(
                    insert(schema.algorithms)
                    .values(
                        name=name, is_public=bool(is_public), cost=float(cost), charge_schema=charge_schema,
                        inserted_at=_now(),
                    )
                    .returning(schema.algorithms.c.id)
                ).scalar_one()
                conn.execute(
                    insert(schema.algorithm_roles).values(
                        algorithm_id=algorithm_id, user_id=owner_id, role=ROLE_OWNER, inserted_at=_now()
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"algorithm {name!r} already exists") from exc
        return self.get_algorithm(int(algorithm_id))

    def update_algorithm(self, algorithm_id: int, changes: Dict[str, Any]) -> AlgorithmRow:
        """Change ``is_public``, ``cost`` and/or ``charge_schema`` (already validated)."""
        columns = {key: changes[key] for key in ("is_public", "cost", "charge_schema") if key in changes}
        if columns:
            with writing(self.engine) as conn:
                conn.execute(update(schema.algorithms).where(schema.algorithms.c.id == algorithm_id).values(**columns))
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
        try:
            with writing(self.engine) as conn:
                conn.execute(
                    insert(schema.algorithm_roles).values(
                        algorithm_id=algorithm_id, user_id=user.id, role=role, cost=cost,
                        charge_schema=charge_schema, inserted_at=_now(),
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"user {user_name!r} already has a role on this algorithm") from exc
        return next(r for r in self.roles(algorithm_id) if r.user_id == user.id)

    def roles(self, algorithm_id: int) -> List[RoleRow]:
        """Every user's role on the algorithm."""
        roles, users = schema.algorithm_roles, schema.users
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(roles, users.c.name.label("uname"))
                .join_from(roles, users, users.c.id == roles.c.user_id)
                .where(roles.c.algorithm_id == algorithm_id)
                .order_by(roles.c.id)
            ).mappings().all()
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

    def _load_algorithms(self, where: Any = None) -> List[AlgorithmRow]:
        """Algorithms (all, or those ``where`` selects) with their roles and versions, from one
        snapshot: three queries whatever the number of algorithms."""
        algorithms, roles, versions = schema.algorithms, schema.algorithm_roles, schema.versions
        query = select(algorithms).order_by(algorithms.c.id)
        if where is not None:
            query = query.where(where)
        with reading(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
            ids = [row["id"] for row in rows]
            role_rows = conn.execute(
                select(roles.c.algorithm_id, roles.c.user_id, roles.c.role).where(roles.c.algorithm_id.in_(ids))
            ).all() if ids else []
            version_rows = conn.execute(
                select(versions).where(versions.c.algorithm_id.in_(ids)).order_by(versions.c.id)
            ).mappings().all() if ids else []
        result: Dict[int, AlgorithmRow] = {}
        for row in rows:
            result[row["id"]] = AlgorithmRow(
                id=row["id"],
                name=row["name"],
                is_public=bool(row["is_public"]),
                cost=float(row["cost"]),
                charge_schema=row["charge_schema"],
                inserted_at=row["inserted_at"],
            )
        for role_row in role_rows:
            result[role_row.algorithm_id].roles[role_row.user_id] = role_row.role
        for version in version_rows:
            owner = result[version["algorithm_id"]]
            owner.versions.append(_version_from_row(version, owner.name))
        return list(result.values())

    def list_algorithms(self, name: Optional[str] = None) -> List[AlgorithmRow]:
        return self._load_algorithms(None if name is None else schema.algorithms.c.name == name)

    def get_algorithm(self, algorithm_id: int) -> AlgorithmRow:
        found = self._load_algorithms(schema.algorithms.c.id == algorithm_id)
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
        versions = schema.versions
        with reading(self.engine) as conn:
            row = conn.execute(
                select(versions.c.id).where(versions.c.algorithm_id == algorithm_id, versions.c.name == version)
            ).first()
        return row is not None

    def publish_version(
        self,
        algorithm: AlgorithmRow,
        package: ValidatedPackage,
        metadata: Dict[str, Any],
        hash: Optional[str] = None,
    ) -> VersionRow:
        """Store a validated package's files and commit its version row.

        Raises :class:`AlreadyExists` when the version name is taken (by the database's
        unique constraint, so a concurrent push of the same version cannot slip through).
        """
        files = package.files
        data = files.get(ROLE_DATA)
        try:
            # The blobs are stored inside the publish transaction, so that gc_blobs (which
            # excludes it) never sees the blobs of a publish about to commit as orphans.
            with writing(self.engine, publish=True) as conn:
                self.blobs.put(package.package_sha256, package.package_path)
                for extracted in package.files.values():
                    self.blobs.put(extracted.sha256, extracted.path)
                if self.before_commit is not None:
                    self.before_commit(package.version)
                row = conn.execute(
                    insert(schema.versions)
                    .values(
                        algorithm_id=algorithm.id,
                        name=package.version,
                        metadata=json.dumps(clean_metadata(metadata)),
                        package_sha256=package.package_sha256,
                        package_size=package.package_size,
                        loader_sha256=files[ROLE_LOADER].sha256,
                        loader_size=files[ROLE_LOADER].size,
                        wasm_sha256=files[ROLE_WASM].sha256,
                        wasm_size=files[ROLE_WASM].size,
                        data_sha256=data.sha256 if data else None,
                        data_size=data.size if data else None,
                        inserted_at=_now(),
                        hash=hash,
                    )
                    .returning(*schema.versions.c)
                ).mappings().one()
        except IntegrityError as exc:
            raise AlreadyExists(f"version {package.version!r} of {algorithm.name!r} already exists") from exc
        return _version_from_row(row, algorithm.name)

    def gc_blobs(self) -> Tuple[int, int]:
        """Remove blobs no committed version references (left by uploads that were lost or
        killed before their commit); returns (files, bytes) removed. Holds the publish lock
        exclusively, so no publish is storing blobs meanwhile."""
        removed, freed = 0, 0
        with writing(self.engine, exclusive=True) as conn:
            referenced = _referenced(conn)
            for digest, size in list(self.blobs.digests()):
                if digest not in referenced:
                    self.blobs.delete(digest)
                    removed, freed = removed + 1, freed + size
        return removed, freed

    def find_download(self, sha256: str, file_name: str) -> Optional[VersionRow]:
        """The committed version one of whose files is ``sha256`` called ``file_name``, else None."""
        versions, algorithms = schema.versions, schema.algorithms
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(versions, algorithms.c.name.label("aname"))
                .join_from(versions, algorithms, algorithms.c.id == versions.c.algorithm_id)
                .where(or_(*(versions.c[column] == sha256 for column in schema.DIGEST_COLUMNS)))
            ).mappings().all()
        for row in rows:
            version = _version_from_row(row, row["aname"])
            digests = version.digests()
            for role, name in version.file_names().items():
                if name == file_name and digests.get(role) == sha256:
                    return version
        return None

    def presigned_url(self, sha256: str, file_name: str, seconds: int = PRESIGN_SECONDS) -> Optional[str]:
        """A URL that downloads the blob from the store itself, when the store offers one."""
        return self.blobs.presigned_url(sha256, file_name, content_type(file_name), seconds)


#: Content types of the served files, by the end of their names.
CONTENT_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".zip": "application/zip"}


def content_type(file_name: str) -> str:
    suffix = ".zip" if file_name.endswith(".zip") else Path(file_name).suffix
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def _referenced(conn: Connection) -> Set[str]:
    referenced: Set[str] = set()
    columns = [schema.versions.c[column] for column in schema.DIGEST_COLUMNS]
    for row in conn.execute(select(*columns)):
        referenced.update(digest for digest in row if digest)
    return referenced


def _version_from_row(row: RowMapping, algorithm_name: str) -> VersionRow:
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
