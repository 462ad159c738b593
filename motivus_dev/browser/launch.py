"""Finding, starting and stopping a headless browser of the distribution's packages."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from motivus_dev.errors import ToolchainError


@dataclass(frozen=True)
class Browser:
    """A browser kind: its name, the executables that provide it and its Debian package."""

    name: str
    executables: Tuple[str, ...]
    package: str
    env_var: str  # an environment variable that may name the executable

    def flags(self, profile: Path) -> List[str]:
        if self.name == "chromium":
            return [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--disable-breakpad", "--enable-logging=stderr", "--v=0",
                f"--user-data-dir={profile}",
            ]
        return ["--headless", "--no-remote", "--profile", str(profile)]

    def profile_files(self) -> Dict[str, str]:
        """Files a fresh profile starts with (Firefox: no first-run pages, no updates)."""
        if self.name != "firefox":
            return {}
        prefs = {
            "browser.shell.checkDefaultBrowser": "false",
            "browser.startup.homepage_override.mstone": '"ignore"',
            "datareporting.policy.dataSubmissionEnabled": "false",
            "toolkit.telemetry.reportingpolicy.firstRun": "false",
            "app.update.enabled": "false",
            "browser.aboutwelcome.enabled": "false",
        }
        return {"user.js": "".join(f'user_pref("{k}", {v});\n' for k, v in prefs.items())}


BROWSERS: Dict[str, Browser] = {
    "chromium": Browser("chromium", ("chromium", "chromium-browser"), "chromium", "CHROMIUM"),
    "firefox": Browser("firefox", ("firefox-esr", "firefox"), "firefox-esr", "FIREFOX"),
}


def find_browser(name: str) -> Optional[str]:
    """The executable of browser ``name`` ($CHROMIUM / $FIREFOX may name one), else None."""
    browser = BROWSERS[name]
    explicit = os.environ.get(browser.env_var)
    if explicit:
        return shutil.which(explicit)
    for executable in browser.executables:
        found = shutil.which(executable)
        if found:
            return found
    return None


def find_browsers() -> Dict[str, str]:
    """Every browser found on this machine: name -> executable."""
    return {name: path for name in BROWSERS if (path := find_browser(name)) is not None}


def require_browser(name: str) -> str:
    """The executable of browser ``name``, or a :class:`ToolchainError` naming the fix."""
    if name not in BROWSERS:
        raise ToolchainError(f"unknown browser {name!r}", hint=f"use one of {', '.join(BROWSERS)} or all")
    found = find_browser(name)
    if found is None:
        browser = BROWSERS[name]
        raise ToolchainError(
            f"{name} is not installed",
            hint=f"install it with: apt-get install {browser.package} (or name it in ${browser.env_var})",
        )
    return found


class RunningBrowser:
    """A headless browser on one URL, in its own process group with a private home."""

    def __init__(self, browser: Browser, executable: str, url: str, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        profile = home / "profile"
        profile.mkdir(exist_ok=True)
        for name, text in browser.profile_files().items():
            (profile / name).write_text(text)
        self.home = home
        self.log = home / f"{browser.name}.log"
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
                   XDG_CACHE_HOME=str(home / "cache"), MOZ_CRASHREPORTER_DISABLE="1")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [executable, *browser.flags(profile), url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,  # its own process group, so its helpers go with it
            )

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, the browser's process group, then its stray helpers."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _stop_strays(str(self.home))


def _stop_strays(marker: str) -> None:
    """Crash handlers leave the process group (they call setsid). They are this run's when
    their command line names our private home: stop exactly those, by pid."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return
    deadline = time.monotonic() + 5
    while True:
        strays = []
        for entry in proc_dir.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                strays.append(int(entry.name))
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
