"""Pure parts of the marketplace client: URLs, tokens, metadata, version choice, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from marketplace_helpers import build_package

from motivus_dev.errors import MarketplaceError, PackageError
from motivus_dev.marketplace.client.api import (
    DEFAULT_REGISTRY_URL,
    algorithms_url,
    base_url,
    format_errors,
    personal_token_from_env,
    read_dotenv,
    redact,
    registry_url_from_env,
)
from motivus_dev.marketplace.client.push import check_package, prepare_metadata
from motivus_dev.marketplace.client.resolve import pick_version


def test_registry_urls_are_normalised() -> None:
    for given in (
        "http://h:4000",
        "http://h:4000/",
        "http://h:4000/api/package_registry/algorithms",
        "http://h:4000/api/package_registry/algorithms/",
        "h:4000",
    ):
        assert base_url(given) == "http://h:4000"
        assert algorithms_url(given) == "http://h:4000/api/package_registry/algorithms/"


def test_registry_url_from_env_precedence() -> None:
    # the platform's hosted marketplace (../shared/spec/marketplace-api.md)
    assert registry_url_from_env({}) == DEFAULT_REGISTRY_URL == "https://marketplace.api.motivus.cl"
    assert registry_url_from_env({"ALGORITHM_REPO_HOST": "localhost:4000"}) == "http://localhost:4000"
    env = {"ALGORITHM_REPO_HOST": "localhost:4000", "MOTIVUS_MARKETPLACE_URL": "https://m.example/"}
    assert registry_url_from_env(env) == "https://m.example"


def test_personal_token_lookup_names_its_source(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nexport PERSONAL_ACCESS_TOKEN='from-file'\nOTHER=1\n")
    assert read_dotenv(dotenv)["PERSONAL_ACCESS_TOKEN"] == "from-file"
    assert personal_token_from_env({}, dotenv) == ("from-file", f"PERSONAL_ACCESS_TOKEN (in {dotenv})")
    assert personal_token_from_env({"PERSONAL_ACCESS_TOKEN": "b"}, dotenv) == ("b", "PERSONAL_ACCESS_TOKEN")
    both = {"PERSONAL_ACCESS_TOKEN": "b", "MOTIVUS_PERSONAL_ACCESS_TOKEN": "a"}
    assert personal_token_from_env(both) == ("a", "MOTIVUS_PERSONAL_ACCESS_TOKEN")
    assert personal_token_from_env({}, tmp_path / "missing.env") == (None, None)


def test_redact_and_format_errors() -> None:
    assert redact("Bearer s3cret failed", "s3cret") == "Bearer <token> failed"
    assert redact("nothing", None) == "nothing"
    assert format_errors({"name": ["has already been taken"]}) == "name: has already been taken"
    assert format_errors({}) == "no reason given"


def test_prepare_metadata_inlines_a_markdown_long_description(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Title\nlong text\n")
    meta = prepare_metadata({"long_description": "./README.md", "license": "MIT", "junk": 1}, tmp_path)
    assert meta == {"long_description": "# Title\nlong text\n", "license": "MIT"}
    assert prepare_metadata({"long_description": "plain text"}, tmp_path) == {"long_description": "plain text"}
    with pytest.raises(PackageError, match="missing.md"):
        prepare_metadata({"long_description": "missing.md"}, tmp_path)


def test_pick_version_lists_the_versions_that_exist() -> None:
    versions = [{"name": "0.0.1"}, {"name": "0.0.2"}]
    assert pick_version(versions, "algo", "0.0.2", "R") == {"name": "0.0.2"}
    assert pick_version(versions, "algo", "latest", "R") == {"name": "0.0.2"}
    with pytest.raises(MarketplaceError, match=r"no version '9.9' .*published versions: 0.0.1, 0.0.2"):
        pick_version(versions, "algo", "9.9", "R")
    with pytest.raises(MarketplaceError, match="published versions: none"):
        pick_version([], "algo", "latest", "R")


def test_check_package_before_sending(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="does not exist") as info:
        check_package(tmp_path / "algo-1.0.0.zip", "algo", "1.0.0")
    assert "motivus build" in str(info.value)
    stale = build_package(tmp_path, "algo", "0.9.0")
    with pytest.raises(PackageError, match="does not match motivus.yml"):
        check_package(stale, "algo", "1.0.0")
    broken = tmp_path / "algo-1.0.0.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(PackageError, match="not a valid package"):
        check_package(broken, "algo", "1.0.0")
    good = build_package(tmp_path / "ok", "algo", "1.0.0")
    assert set(check_package(good, "algo", "1.0.0")) == {"loader", "wasm"}


def test_the_client_side_does_not_import_the_server() -> None:
    """push, resolve and api share only the rules module (validation) with the server."""
    import subprocess
    import sys

    code = ("import sys, motivus_dev.marketplace.client.push, motivus_dev.marketplace.client.resolve\n"
            "import motivus_dev.marketplace.client.api\n"
            "print(sorted(m for m in sys.modules if m.startswith('motivus_dev.marketplace.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "motivus_dev.marketplace.client.push" in loaded
    assert "marketplace.server" not in loaded, loaded
