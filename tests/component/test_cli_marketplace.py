"""The CLI of publishing: `motivus marketplace user|token|algorithm` on a data directory, and
`motivus push` against a real local marketplace (``RunningServer`` on port 0).

The pushed package is a real, valid package made by ``marketplace_helpers.build_package`` (tests/)
(building one with a compiler is the integration tests' job). Every push test checks that
the token never appears in anything the command printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest
from click.testing import CliRunner, Result
from marketplace_helpers import CountingApp, RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.cli import main
from motivus_dev.marketplace.client.api import ALGORITHMS_PATH

NAME, VERSION = "kmc", "0.0.1"
#: Every variable push and the marketplace commands read: unset for each invocation (and
#: restored afterwards by CliRunner), so the shell and the .env loading of `main` (which
#: writes into os.environ) cannot leak from one test into another.
KIT_VARS = (
    "MOTIVUS_PERSONAL_ACCESS_TOKEN",
    "PERSONAL_ACCESS_TOKEN",
    "MOTIVUS_MARKETPLACE_URL",
    "ALGORITHM_REPO_HOST",
    "APPLICATION_TOKEN",
    "MOTIVUS_MARKETPLACE_DATA",
    "MOTIVUS_MARKETPLACE_DATABASE",
    "MOTIVUS_MARKETPLACE_BLOBS",
)
USAGE = "# kmc\n\nK-means, *long* description from USAGE.md.\n"


def motivus(*args: str, **env: str) -> Result:
    """Run the CLI with only the given kit variables set."""
    environment: Dict[str, Optional[str]] = {name: None for name in KIT_VARS}
    environment.update(env)
    return CliRunner().invoke(main, list(args), env=environment)


def assert_clean_failure(result: Result, exit_code: int) -> None:
    """A user mistake: the given exit code, an `error:` message, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert "error:" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --------------------------------------------------------------------------- admin commands


def test_admin_commands_set_up_a_registry_that_the_server_honours(tmp_path: Path) -> None:
    data = tmp_path / "registry"
    for user in ("alice", "bob"):
        result = motivus("marketplace", "user", "add", user, "--data-dir", str(data))
        assert result.exit_code == 0, result.output
        assert f"added user {user}" in result.stdout

    tokens: Dict[str, str] = {}
    for user, kind in (("alice", "personal"), ("alice", "application"), ("bob", "personal")):
        result = motivus("marketplace", "token", "create", "--user", user, "--kind", kind, "--data-dir", str(data))
        assert result.exit_code == 0, result.output
        # the token alone on stdout (scripts capture it), the note on stderr
        lines = result.stdout.splitlines()
        assert len(lines) == 1 and len(lines[0]) >= 20 and " " not in lines[0]
        assert "cannot be shown again" in result.stderr and lines[0] not in result.stderr
        tokens[f"{user}_{kind}"] = lines[0]
    assert len(set(tokens.values())) == 3

    # The data directory keeps hashes only: no token is anywhere in it.
    for path in data.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(token.encode() in content for token in tokens.values()), path

    result = motivus("marketplace", "algorithm", "create", NAME, "--owner", "alice", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert NAME in result.stdout and "alice" in result.stdout

    with RunningServer(data) as server:
        headers = {"authorization": f"Bearer {tokens['bob_personal']}"}
        listing = httpx.get(server.url + ALGORITHMS_PATH, params={"name": NAME}, headers=headers)
        assert listing.status_code == 200 and [a["name"] for a in listing.json()["data"]] == [NAME]
        algorithm_id = listing.json()["data"][0]["id"]
        url = f"{server.url}{ALGORITHMS_PATH}{algorithm_id}/versions"

        def upload(token: str, version: str) -> int:
            package = build_package(tmp_path / "pkg", NAME, version)
            with package.open("rb") as file:
                response = httpx.post(
                    url,
                    headers={"authorization": f"Bearer {token}"},
                    data={"version": json.dumps({"name": version, "metadata": {}})},
                    files={"package": (package.name, file, "application/zip")},
                )
            return response.status_code

        assert upload(tokens["bob_personal"], "0.0.1") == 403  # not an owner or maintainer yet
        result = motivus("marketplace", "algorithm", "add-maintainer", NAME, "bob", "--data-dir", str(data))
        assert result.exit_code == 0, result.output
        assert "bob" in result.stdout and NAME in result.stdout
        assert upload(tokens["bob_personal"], "0.0.1") == 201  # the CLI's change is live at once
        assert upload(tokens["alice_personal"], "0.0.2") == 201
        # application tokens read and download, they do not publish
        assert upload(tokens["alice_application"], "0.0.3") == 403
        unknown = httpx.get(
            server.url + ALGORITHMS_PATH, params={"name": NAME}, headers={"authorization": "Bearer nope"}
        )
        assert unknown.status_code == 401


@pytest.mark.parametrize(
    "args, message",
    [
        (["token", "create", "--user", "nobody", "--kind", "personal"], "no user named 'nobody'"),
        (["algorithm", "create", "other", "--owner", "nobody"], "no user named 'nobody'"),
        (["algorithm", "add-maintainer", NAME, "nobody"], "no user named 'nobody'"),
        (["algorithm", "add-maintainer", "missing", "alice"], "missing"),
        (["algorithm", "create", NAME, "--owner", "alice"], "already exists"),
        (["user", "add", "alice"], "already exists"),
    ],
)
def test_admin_mistakes_give_a_clear_message_and_exit_code(tmp_path: Path, args: List[str], message: str) -> None:
    data = tmp_path / "registry"
    assert motivus("marketplace", "user", "add", "alice", "--data-dir", str(data)).exit_code == 0
    created = motivus("marketplace", "algorithm", "create", NAME, "--owner", "alice", "--data-dir", str(data))
    assert created.exit_code == 0
    result = motivus("marketplace", *args, "--data-dir", str(data))
    assert_clean_failure(result, 10)
    assert message in result.stderr
    assert result.stdout == ""  # in particular no token was printed


def test_token_kind_must_be_personal_or_application(tmp_path: Path) -> None:
    result = motivus(
        "marketplace", "token", "create", "--user", "alice", "--kind", "admin", "--data-dir", str(tmp_path)
    )
    assert result.exit_code == 2 and "personal" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- push


@pytest.fixture()
def seed(tmp_path: Path) -> Seed:
    """alice owns NAME, bob has no rights (both with personal and application tokens)."""
    return Seed(tmp_path / "registry", algorithm=NAME)


@pytest.fixture()
def server(seed: Seed) -> Any:
    counting: List[CountingApp] = []

    def wrap(app: Any) -> Any:
        counting.append(CountingApp(app))
        return counting[0]

    running = RunningServer(seed.where, app_wrapper=wrap)
    running.counter = counting[0]  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A C project whose build/ holds a valid package of NAME VERSION with a filesystem."""
    root = tmp_path / NAME
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "USAGE.md").write_text(USAGE)
    (root / "motivus.yml").write_text(
        "build: {compiler: mvcc, lang: c, source: src}\n"
        f"package:\n  name: {NAME}\n  version: {VERSION}\n"
        "  metadata:\n    short_description: K-means\n    license: MIT\n    long_description: ./USAGE.md\n"
    )
    build_package(root / "build", NAME, VERSION, wasm=minimal_wasm(4096), data=data_zip({"etc/k.conf": b"2\n"}))
    return root


def published_versions(server: RunningServer, token: str) -> List[Dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"}
    response = httpx.get(server.url + ALGORITHMS_PATH, params={"name": NAME}, headers=headers)
    assert response.status_code == 200
    return list(response.json()["data"][0]["versions"])


def test_push_publishes_and_json_output_parses(project: Path, server: RunningServer, seed: Seed) -> None:
    result = motivus(
        "-C", str(project), "push", "--registry", server.url, "--json", MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout is the JSON document alone
    assert report["name"] == NAME and report["version"] == VERSION and report["dry_run"] is False
    assert report["version_id"] is not None and report["registry_url"] == server.url + ALGORITHMS_PATH
    assert set(report["files"]) == {"loader", "wasm", "data"}
    assert seed.alice not in result.output

    [version] = published_versions(server, seed.app)
    assert version["name"] == VERSION and version["id"] == report["version_id"]
    assert version["package_hash"] == report["package_sha256"]  # and "hash" is the wasm's, as push sent it
    assert version["data_url"]  # the package had a filesystem
    assert version["metadata"]["long_description"] == USAGE  # the .md file's text, not its name
    assert version["metadata"]["short_description"] == "K-means"


def test_push_plain_output_says_what_was_published(project: Path, server: RunningServer, seed: Seed) -> None:
    result = motivus(
        "-C", str(project), "push", MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice, MOTIVUS_MARKETPLACE_URL=server.url
    )
    assert result.exit_code == 0, result.output
    assert f"published {NAME} {VERSION}" in result.stdout
    assert result.output.count("published") == 1, result.output  # one line says it, on stdout or stderr
    assert seed.alice not in result.output
    assert [v["name"] for v in published_versions(server, seed.app)] == [VERSION]


def test_dry_run_sends_nothing(project: Path, server: RunningServer, seed: Seed) -> None:
    for extra in ([], ["--json"]):
        result = motivus(
            "-C", str(project), "push", "--registry", server.url, "--dry-run", *extra,
            MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice,
        )
        assert result.exit_code == 0, result.output
        assert seed.alice not in result.output
        if extra:
            report = json.loads(result.stdout)
            assert report["dry_run"] is True and report["version_id"] is None and report["package_size"] > 0
        else:
            assert "dry run" in result.output and f"{NAME}-{VERSION}.zip" in result.output
    assert server.counter.requests == []  # type: ignore[attr-defined]
    assert published_versions(server, seed.app) == []


def test_missing_package_says_run_motivus_build(project: Path, server: RunningServer, seed: Seed) -> None:
    (project / "build" / f"{NAME}-{VERSION}.zip").unlink()
    result = motivus("-C", str(project), "push", "--registry", server.url, MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice)
    assert_clean_failure(result, 7)
    assert "motivus build" in result.stderr
    assert server.counter.requests == []  # type: ignore[attr-defined]


def test_a_package_of_another_version_is_refused_before_sending(
    project: Path, server: RunningServer, seed: Seed
) -> None:
    # motivus.yml moved on to 0.0.2 but build/ still holds 0.0.1: not built
    config = project / "motivus.yml"
    config.write_text(config.read_text().replace(f"version: {VERSION}", "version: 0.0.2"))
    result = motivus("-C", str(project), "push", "--registry", server.url, MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice)
    assert_clean_failure(result, 7)
    assert "motivus build" in result.stderr and "0.0.2" in result.stderr
    assert server.counter.requests == []  # type: ignore[attr-defined]


def test_version_taken_says_bump_the_version(project: Path, server: RunningServer, seed: Seed) -> None:
    args = ("-C", str(project), "push", "--registry", server.url)
    assert motivus(*args, MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice).exit_code == 0
    [first] = published_versions(server, seed.app)
    # other bytes, same version: still refused, nothing overwritten
    build_package(project / "build", NAME, VERSION, wasm=minimal_wasm(8192))
    result = motivus(*args, "--json", MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice)
    assert_clean_failure(result, 10)
    assert "already published" in result.stderr and "package.version" in result.stderr
    assert seed.alice not in result.output
    # one JSON document for CI, the error's (a failed --json command says so on stdout too)
    error = json.loads(result.stdout)
    assert error["ok"] is False and error["error"]["exit_code"] == 10
    assert "already published" in error["error"]["message"] and seed.alice not in result.stdout
    assert published_versions(server, seed.app) == [first]


def test_401_names_the_environment_variable(project: Path, server: RunningServer) -> None:
    bogus = "mvp_not-a-token-0123456789abcdef"
    result = motivus("-C", str(project), "push", "--registry", server.url, MOTIVUS_PERSONAL_ACCESS_TOKEN=bogus)
    assert_clean_failure(result, 10)
    assert "401" in result.stderr and "read from MOTIVUS_PERSONAL_ACCESS_TOKEN" in result.stderr
    assert bogus not in result.output


def test_401_names_personal_access_token_from_the_project_env_file(project: Path, server: RunningServer) -> None:
    bogus = "mvp_from-dotenv-fedcba9876543210"
    (project / ".env").write_text(f"PERSONAL_ACCESS_TOKEN={bogus}\nMOTIVUS_MARKETPLACE_URL={server.url}\n")
    result = motivus("-C", str(project), "push")
    assert_clean_failure(result, 10)
    assert "401" in result.stderr
    assert "read from PERSONAL_ACCESS_TOKEN (in " in result.stderr and ".env)" in result.stderr
    assert "MOTIVUS_PERSONAL_ACCESS_TOKEN" not in result.stderr
    assert bogus not in result.output


def test_403_says_not_an_owner_or_maintainer(project: Path, server: RunningServer, seed: Seed) -> None:
    result = motivus("-C", str(project), "push", "--registry", server.url, MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.bob)
    assert_clean_failure(result, 10)
    assert "not an owner or maintainer" in result.stderr and "MAINTAINER" in result.stderr
    assert seed.bob not in result.output
    assert published_versions(server, seed.app) == []


def test_no_token_at_all_says_which_variables_to_set(project: Path, server: RunningServer) -> None:
    result = motivus("-C", str(project), "push", "--registry", server.url)
    assert_clean_failure(result, 10)
    assert "MOTIVUS_PERSONAL_ACCESS_TOKEN" in result.stderr
    assert server.counter.requests == []  # type: ignore[attr-defined]
