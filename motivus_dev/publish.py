"""`motivus push`: publish the project's built package to a marketplace."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .config import load_config
from .envfile import read_dotenv
from .errors import PackageError
from .marketplace.client.api import PERSONAL_TOKEN_VARS, personal_token_from_env, registry_url_from_env
from .marketplace.client.push import NewAlgorithm, PushResult, push
from .reporter import Reporter


def publish_project(
    project_dir: Path,
    reporter: Reporter,
    *,
    registry: Optional[str] = None,
    dry_run: bool = False,
    create_algorithm: Optional[NewAlgorithm] = None,
    retries: int = 4,
) -> PushResult:
    """Upload ``build/NAME-VERSION.zip`` with the metadata of motivus.yml.

    The token comes from ``MOTIVUS_PERSONAL_ACCESS_TOKEN`` (or ``PERSONAL_ACCESS_TOKEN``, as
    the platform's docs write it in ``.env``); the registry from ``registry``, else
    ``MOTIVUS_MARKETPLACE_URL``, else the hosted marketplace.
    """
    from .build import is_up_to_date, toolchain_ref

    config = load_config(project_dir)
    package = config.build_dir / config.layout.archive
    if not package.is_file():
        raise PackageError(
            f"{package} does not exist: version {config.package_version} of {config.name} is not built",
            hint="run 'motivus build' first",
        )
    if not is_up_to_date(config, toolchain_ref(config)):
        reporter.warning(
            f"the sources changed since {package.name} was built: publishing the package as built "
            "(run 'motivus build' first to publish the current sources)"
        )
    dotenv = config.project_dir / ".env"
    token, source = personal_token_from_env(dotenv=dotenv)
    if token and source in PERSONAL_TOKEN_VARS and read_dotenv(dotenv).get(source) == token:
        # The CLI copies .env into the environment at start-up, so a token from .env looks
        # like an environment variable here: say where to look when the token is refused.
        source = f"{source} (in {dotenv})"
    return push(
        package,
        config.name,
        config.package_version,
        config.metadata.to_marketplace(),
        registry or registry_url_from_env(),
        token,
        source or "MOTIVUS_PERSONAL_ACCESS_TOKEN",
        reporter,
        dry_run=dry_run,
        retries=retries,
        create_algorithm=create_algorithm,
    )
