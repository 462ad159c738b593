"""motivus.yml validation: valid files load, each mistake names the file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from motivus_dev.config import check_package_name, check_version, load_config, parse_config
from motivus_dev.errors import ConfigError

VALID = """\
version: 1.0
build:
  compiler: mvrc
  source: .
package:
  name: kmeans
  version: 0.0.1
  metadata:
    short_description: 'K-means clustering'
    license: 'MIT'
    author: 'Motivus'
    url: ''
    upstream_url: ''
    long_description: ./USAGE.md
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "motivus.yml"
    path.write_text(text)
    return path


def parse(tmp_path: Path, text: str):
    return parse_config(text, write(tmp_path, text))


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(tmp_path, text)
    return str(info.value)


def test_valid_file_loads_with_metadata_from_markdown(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("# kmeans\nLong text.\n")
    write(tmp_path, VALID)
    config = load_config(tmp_path)
    assert config.name == "kmeans"
    assert config.package_version == "0.0.1"
    assert config.package_stem == "kmeans-0.0.1"
    assert config.build.compiler == "mvrc" and config.build.lang == "rust"
    assert config.build.profile == "release"
    assert config.tests.fixtures == "tests/fixtures"
    meta = config.metadata.to_marketplace()
    assert meta["long_description"] == "# kmeans\nLong text.\n"
    assert meta["license"] == "MIT"


def test_docs_example_with_filesystem_dot_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    text = VALID.replace("  source: .\n", "  source: .\n  filesystem: .\n")
    assert parse(tmp_path, text).build.filesystem == "."


def test_config_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    write(tmp_path, VALID)
    (tmp_path / "src").mkdir()
    assert load_config(tmp_path / "src").project_dir == tmp_path.resolve()


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "no motivus.yml" in str(info.value) and "motivus new" in str(info.value)


def test_unknown_compiler(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("mvrc", "gcc"))
    assert "motivus.yml" in message and "build.compiler" in message
    assert "'gcc'" in message and "mvrc" in message and "mvcc" in message


def test_the_platforms_fortran_compiler_is_named_as_not_supported_with_the_way_out(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("mvrc", "mvfc"))
    assert "'mvfc': Fortran (the platform's mvfc) is not supported by the kit yet" in message
    assert "compiler: mvcc" in message and "compiler: mvrc" in message and "platform's own toolchain" in message


@pytest.mark.parametrize("name", ["KMeans", "1kmeans", "k means", "k--means", "kmeans-", "a" * 65, "kmeans\n"])
def test_invalid_package_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    message = error_of(tmp_path, VALID.replace("name: kmeans", f"name: '{name}'"))
    assert "package.name" in message and "not a valid package name" in message


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "latest", "1.0.0\n"])
def test_version_not_semver(tmp_path: Path, version: str) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    message = error_of(tmp_path, VALID.replace("version: 0.0.1", f"version: '{version}'"))
    assert "package.version" in message and "semantic version" in message and "0.0.1" in message


def test_missing_source_directory(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    message = error_of(tmp_path, VALID.replace("source: .", "source: src"))
    assert "build.source" in message and "'src'" in message and "does not exist" in message


def test_source_outside_project_refused(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    message = error_of(tmp_path, VALID.replace("source: .", "source: ../elsewhere"))
    assert "outside the project" in message


def test_missing_long_description_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID)
    assert "package.metadata.long_description" in message and "USAGE.md" in message


def test_inline_long_description_is_kept(tmp_path: Path) -> None:
    config = parse(tmp_path, VALID.replace("./USAGE.md", "'A method of vector quantization'"))
    assert config.metadata.to_marketplace()["long_description"] == "A method of vector quantization"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 1.0\nbuild:\n  compiler: mvrc\n   source: [\n")
    assert "invalid YAML" in message and "line 4" in message


def test_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "USAGE.md").write_text("x")
    message = error_of(tmp_path, VALID.replace("  source: .\n", "  source: .\n  compilr: mvrc\n"))
    assert "build.compilr" in message and "not a known key" in message


def test_missing_sections(tmp_path: Path) -> None:
    assert "'build' is missing" in error_of(tmp_path, "version: 1.0\npackage: {name: a, version: 0.0.1}\n")
    assert "'package' is missing" in error_of(tmp_path, "version: 1.0\nbuild: {compiler: mvrc}\n")


def test_mvcc_language_is_guessed_and_checked(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.cpp").write_text("int main() {}")
    text = "build: {compiler: mvcc, source: src}\npackage: {name: prog, version: 1.0.0}\n"
    assert parse(tmp_path, text).build.lang == "cpp"
    message = error_of(tmp_path, text.replace("source: src", "source: src, lang: rust"))
    assert "build.lang" in message and "c, cpp" in message


def test_flags_accept_a_list_or_a_string(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("")
    text = "build: {compiler: mvcc, cflags: [-O3, -DX=1], ldflags: '-sSTACK_SIZE=1048576'}\n" \
           "package: {name: prog, version: 1.0.0}\n"
    build = parse(tmp_path, text).build
    assert build.cflags == ["-O3", "-DX=1"] and build.ldflags == ["-sSTACK_SIZE=1048576"]


def test_name_and_version_checks() -> None:
    assert check_package_name("k-means_2") is None
    assert check_package_name("") is not None
    assert check_version("1.2.3-rc.1+build.5") is None
    assert check_version("1.2") is not None
