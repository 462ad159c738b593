"""Where a registry keeps its metadata and its package files: one type every command uses.

A registry is a database (SQLite file by default, or PostgreSQL) and a blob store (a local
directory by default, or an S3-compatible bucket under a prefix). A data directory gives
both defaults (``DATA_DIR/marketplace.sqlite3`` and ``DATA_DIR/blobs``); ``--database`` and
``--blobs`` (or ``MOTIVUS_MARKETPLACE_DATABASE`` / ``MOTIVUS_MARKETPLACE_BLOBS``) replace
either. The S3 endpoint comes from ``AWS_ENDPOINT_URL`` or ``--s3-endpoint-url``, the
credentials from the usual AWS variables (the S3 client library reads them).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

from motivus_dev.errors import MarketplaceError

DB_NAME = "marketplace.sqlite3"
BLOB_DIR_NAME = "blobs"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


@dataclass(frozen=True)
class RegistryLocation:
    """A registry's database URL and blob store (a directory path or ``s3://bucket/prefix``).

    ``data_dir``: the directory the defaults came from (None when both are given); a local
    blob store keeps its upload scratch space beside its blobs, an S3 one in a temporary
    directory of its process.
    """

    database: str
    blobs: str
    data_dir: Optional[Path] = None
    s3_endpoint_url: Optional[str] = None

    @classmethod
    def of(
        cls,
        data_dir: Optional[Path] = None,
        *,
        database: Optional[str] = None,
        blobs: Optional[str] = None,
        s3_endpoint_url: Optional[str] = None,
    ) -> "RegistryLocation":
        """The location from a data directory and/or explicit URLs; checks both URLs."""
        if data_dir is not None:
            data_dir = Path(data_dir).expanduser()
        if database is None or blobs is None:
            if data_dir is None:
                missing = "--database" if database is None else "--blobs"
                raise MarketplaceError(
                    f"no {missing} and no data directory to default it to",
                    hint=f"give {missing} (or --data-dir for a local one)",
                )
        database = database or f"sqlite:///{data_dir / DB_NAME}"  # type: ignore[operator]
        blobs = blobs or str(data_dir / BLOB_DIR_NAME)  # type: ignore[operator]
        _check_database_url(database)
        if blobs.startswith("s3:"):
            s3_bucket_and_prefix(blobs)
        elif "://" in blobs:
            raise MarketplaceError(
                f"unsupported blob store {blobs!r}",
                hint="use a directory path or s3://BUCKET/PREFIX",
            )
        return cls(database=database, blobs=blobs, data_dir=data_dir, s3_endpoint_url=s3_endpoint_url or None)

    @property
    def is_postgresql(self) -> bool:
        return self.database.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")

    @property
    def blobs_in_s3(self) -> bool:
        return self.blobs.startswith("s3://")

    @property
    def sqlite_path(self) -> Optional[Path]:
        """The SQLite file, or None for another database."""
        if not self.database.startswith("sqlite"):
            return None
        from sqlalchemy.engine import make_url

        path = make_url(self.database).database
        return Path(path) if path else None

    def describe(self) -> str:
        """Both parts, with any password in the database URL hidden."""
        return f"database {redact_url(self.database)}, files in {self.blobs}"


def as_location(where: Union[Path, str, RegistryLocation]) -> RegistryLocation:
    """A data directory (the embedded defaults) or a location as it is."""
    if isinstance(where, RegistryLocation):
        return where
    return RegistryLocation.of(Path(where))


def _check_database_url(url: str) -> None:
    scheme = url.split(":", 1)[0].split("+", 1)[0] if ":" in url else ""
    if scheme not in _DATABASE_SCHEMES:
        raise MarketplaceError(
            f"unsupported database URL {redact_url(url)!r}",
            hint="use postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH",
        )


def s3_bucket_and_prefix(url: str) -> Tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix") (the prefix may be empty)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise MarketplaceError(f"invalid S3 location {url!r}", hint="write it as s3://BUCKET/PREFIX")
    return parsed.netloc, parsed.path.strip("/")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs), as SQLAlchemy
    renders a URL; a string it cannot read as a URL is returned as it is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
