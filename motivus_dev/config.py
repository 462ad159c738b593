"""motivus.yml: loading, validation and the typed project configuration.

Every key is documented in ``docs/motivus-yml.md``. Validation errors name the file, the
key and the fix, so that a user never needs a traceback to find the mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from .errors import ConfigError
from .layout import PackageLayout
from .marketplace.validation import METADATA_FIELDS
from .resources import doc
from .toolchain.plan import PROFILES
from .toolchain.registry import NAMES, TOOLCHAINS

if TYPE_CHECKING:
    from .toolchain.kind import Toolchain

CONFIG_FILE = "motivus.yml"
LANGS_BY_COMPILER = {name: t.langs for name, t in TOOLCHAINS.items()}
#: Toolchains the platform had that the kit does not (yet), and what the author should know.
UNSUPPORTED_COMPILERS = {
    "mvfc": "Fortran (the platform's mvfc) is not supported by the kit yet: there is no Fortran to "
            "WebAssembly compiler in its toolchains",
}
METADATA_KEYS = METADATA_FIELDS  # the marketplace's rule, one place

# Package names end up in file names (NAME-VERSION.zip) and URLs: keep them boring.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*\Z")
NAME_MAX = 64
# Semantic Versioning 2.0.0, the official regular expression.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)


def check_package_name(name: str) -> Optional[str]:
    """Return why ``name`` is not a valid package name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > NAME_MAX:
        return f"it is longer than {NAME_MAX} characters"
    if not NAME_RE.match(name):
        return (
            "use lowercase letters, digits, '_' and single '-' between parts, "
            "starting with a letter (e.g. 'kmeans', 'k-means')"
        )
    return None


def check_version(version: str) -> Optional[str]:
    """Return why ``version`` is not a semantic version, or None when it is."""
    if not isinstance(version, str) or not SEMVER_RE.match(version):
        return "use a semantic version MAJOR.MINOR.PATCH such as '0.0.1' or '1.2.0-rc.1'"
    return None


@dataclass(frozen=True)
class Metadata:
    """Version metadata sent to the marketplace on push."""

    short_description: str = ""
    long_description: str = ""
    long_description_file: Optional[Path] = None
    license: str = ""
    author: str = ""
    url: str = ""
    upstream_url: str = ""

    def to_marketplace(self) -> Dict[str, str]:
        """The metadata as the marketplace takes it (long_description as text)."""
        long_description = self.long_description
        if self.long_description_file is not None:
            long_description = self.long_description_file.read_text(encoding="utf-8")
        return {
            "short_description": self.short_description,
            "long_description": long_description,
            "license": self.license,
            "author": self.author,
            "url": self.url,
            "upstream_url": self.upstream_url,
        }


@dataclass(frozen=True)
class BuildConfig:
    """The ``build`` section."""

    compiler: str
    source: str = "."
    filesystem: Optional[str] = None
    lang: str = "rust"
    toolchain_version: Optional[str] = None
    profile: str = "release"
    cflags: List[str] = field(default_factory=list)
    ldflags: List[str] = field(default_factory=list)
    #: compile with WebAssembly SIMD128 (node 16, Chrome 91, Firefox 89, Safari 16.4 and
    #: later run it); off for a package that must run on older browsers
    simd: bool = True


@dataclass(frozen=True)
class TestsConfig:
    """The ``tests`` section."""

    fixtures: str = "tests/fixtures"


@dataclass(frozen=True)
class ProjectConfig:
    """A validated motivus.yml, with the project directory it belongs to."""

    path: Path
    version: str
    build: BuildConfig
    name: str
    package_version: str
    metadata: Metadata
    tests: TestsConfig

    @property
    def project_dir(self) -> Path:
        """The directory that holds motivus.yml."""
        return self.path.parent

    @property
    def toolchain(self) -> "Toolchain":
        """The toolchain ``build.compiler`` names (checked when motivus.yml was read)."""
        return TOOLCHAINS[self.build.compiler]

    @property
    def layout(self) -> PackageLayout:
        """The package's file names (``NAME-VERSION.*``)."""
        return PackageLayout.of(self.name, self.package_version)

    @property
    def package_stem(self) -> str:
        """``NAME-VERSION``, the stem of every package file."""
        return self.layout.stem

    @property
    def build_dir(self) -> Path:
        """Where built packages go."""
        return self.project_dir / "build"


class _Reader:
    """Reads typed values out of the parsed YAML, failing with file + key + fix."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: '{key}' {problem}", hint=fix)

    def section(self, data: Mapping[str, Any], key: str, required: bool) -> Dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "is missing", f"add a '{key}:' section (see {doc('motivus-yml.md')})")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping of keys", f"write '{key}:' followed by indented keys")
        return value

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        default: Optional[str] = None,
        *,
        required: bool = False,
    ) -> Optional[str]:
        short = key.rsplit(".", 1)[-1]
        value = data.get(short, default)
        if value is None:
            if required:
                raise self.fail(key, "is missing", f"add '{short}: ...' under its section")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(key, "must be a text value", f"write '{short}: \"...\"'")
        return str(value)

    def boolean(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        short = key.rsplit(".", 1)[-1]
        value = data.get(short, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"is {value!r}, not true or false", f"write '{short}: true' or '{short}: false'")
        return value

    def string_list(self, data: Mapping[str, Any], key: str) -> List[str]:
        short = key.rsplit(".", 1)[-1]
        value = data.get(short)
        if value is None:
            return []
        if isinstance(value, str):
            return value.split()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings", f"write '{short}: [\"-O3\"]'")
        return list(value)

    def unknown_keys(self, data: Mapping[str, Any], section: str, known: tuple) -> None:
        for key in data:
            if key not in known:
                where = f"{section}.{key}" if section else str(key)
                raise self.fail(
                    where,
                    "is not a known key",
                    f"remove it or use one of: {', '.join(known)} (see {doc('motivus-yml.md')})",
                )


def parse_config(text: str, path: Path) -> ProjectConfig:
    """Validate the text of a motivus.yml located at ``path`` (relative paths resolve there)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path}: invalid YAML{where}: {problem}",
            hint="fix the syntax there (indentation with spaces, 'key: value' pairs)",
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping with 'build' and 'package' sections")
    reader = _Reader(path)
    reader.unknown_keys(data, "", ("version", "build", "package", "tests"))
    project_dir = path.parent

    schema_version = reader.string(data, "version", "1.0") or "1.0"
    if schema_version.split(".")[0] != "1":
        raise reader.fail("version", f"is {schema_version!r}, not a supported schema", "use 'version: 1.0'")

    build = _parse_build(reader, reader.section(data, "build", required=True), project_dir)
    package = reader.section(data, "package", required=True)
    reader.unknown_keys(package, "package", ("name", "version", "metadata"))
    name = reader.string(package, "package.name", required=True) or ""
    problem = check_package_name(name)
    if problem:
        raise reader.fail("package.name", f"is {name!r}, not a valid package name", problem)
    version = reader.string(package, "package.version", required=True) or ""
    problem = check_version(version)
    if problem:
        raise reader.fail("package.version", f"is {version!r}, not a semantic version", problem)
    metadata = _parse_metadata(reader, reader.section(package, "package.metadata", required=False), project_dir)

    tests = reader.section(data, "tests", required=False)
    reader.unknown_keys(tests, "tests", ("fixtures",))
    fixtures = reader.string(tests, "tests.fixtures", "tests/fixtures") or "tests/fixtures"

    return ProjectConfig(
        path=path,
        version=schema_version,
        build=build,
        name=name,
        package_version=version,
        metadata=metadata,
        tests=TestsConfig(fixtures=fixtures),
    )


def _parse_build(reader: _Reader, build: Dict[str, Any], project_dir: Path) -> BuildConfig:
    reader.unknown_keys(
        build,
        "build",
        ("compiler", "source", "filesystem", "lang", "toolchain_version", "profile", "cflags", "ldflags", "simd"),
    )
    compiler = reader.string(build, "build.compiler", required=True) or ""
    if compiler in UNSUPPORTED_COMPILERS:
        raise reader.fail("build.compiler", f"is {compiler!r}: {UNSUPPORTED_COMPILERS[compiler]}",
                          "port the algorithm to C/C++ (compiler: mvcc) or Rust (compiler: mvrc), or keep "
                          "building it with the platform's own toolchain")
    if compiler not in NAMES:
        raise reader.fail(
            "build.compiler",
            f"is {compiler!r}, not a known compiler",
            "use 'mvrc' for Rust or 'mvcc' for C/C++",
        )
    source = reader.string(build, "build.source", ".") or "."
    _check_dir(reader, "build.source", source, project_dir)
    filesystem = reader.string(build, "build.filesystem")
    if filesystem is not None:
        _check_dir(reader, "build.filesystem", filesystem, project_dir)
    langs = LANGS_BY_COMPILER[compiler]
    lang = reader.string(build, "build.lang") or TOOLCHAINS[compiler].guess_lang(project_dir / source)
    if lang not in langs:
        raise reader.fail(
            "build.lang",
            f"is {lang!r}, which {compiler} does not compile",
            f"use one of: {', '.join(langs)}",
        )
    profile = reader.string(build, "build.profile", "release") or "release"
    if profile not in PROFILES:
        raise reader.fail("build.profile", f"is {profile!r}", f"use one of: {', '.join(PROFILES)}")
    return BuildConfig(
        compiler=compiler,
        source=source,
        filesystem=filesystem,
        lang=lang,
        toolchain_version=reader.string(build, "build.toolchain_version"),
        profile=profile,
        cflags=reader.string_list(build, "build.cflags"),
        ldflags=reader.string_list(build, "build.ldflags"),
        simd=reader.boolean(build, "build.simd", True),
    )


def _check_dir(reader: _Reader, key: str, value: str, project_dir: Path) -> None:
    path = Path(value)
    if path.is_absolute() or ".." in path.parts:
        raise reader.fail(key, f"is {value!r}, outside the project", "use a path relative to the project, e.g. '.'")
    if not (project_dir / path).is_dir():
        raise reader.fail(
            key,
            f"names the directory {value!r}, which does not exist in {project_dir}",
            f"create it or point '{key.split('.')[-1]}' at an existing directory",
        )


def _parse_metadata(reader: _Reader, meta: Dict[str, Any], project_dir: Path) -> Metadata:
    reader.unknown_keys(meta, "package.metadata", METADATA_KEYS)
    values = {k: reader.string(meta, f"package.metadata.{k}", "") or "" for k in METADATA_KEYS}
    long_file: Optional[Path] = None
    long_description = values["long_description"]
    # A long_description that looks like a path to a Markdown file is read at push time.
    if long_description.strip().lower().endswith(".md") and "\n" not in long_description.strip():
        candidate = project_dir / long_description.strip()
        if not candidate.is_file():
            raise reader.fail(
                "package.metadata.long_description",
                f"names the file {long_description.strip()!r}, which does not exist",
                "create the file or write the description inline",
            )
        long_file = candidate
    return Metadata(
        short_description=values["short_description"],
        long_description=long_description,
        long_description_file=long_file,
        license=values["license"],
        author=values["author"],
        url=values["url"],
        upstream_url=values["upstream_url"],
    )


def find_config(start: Path) -> Path:
    """Find motivus.yml in ``start`` or its parents."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} found in {start} or its parents",
        hint="run this inside a project (made with 'motivus new NAME') or pass -C PROJECT_DIR",
    )


def load_config(project_dir: Path) -> ProjectConfig:
    """Find and validate the project's motivus.yml."""
    path = find_config(project_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    return parse_config(text, path)
