"""Running packages in real browsers, as the platform's browser workers run them.

Most of the platform's workers are browser tabs. :func:`run_in_browser` serves a small page
(``page/``) and the package's files from 127.0.0.1, opens it in a headless browser (the
distribution's Chromium or Firefox ESR; nothing is downloaded), and the page runs each task
the way the platform's browser worker does: the loader's bytes decoded as ASCII, a Blob URL
of its text as a classic Web Worker, the task body posted once, the first message taken.
"""

from motivus_dev.browser.launch import BROWSERS, Browser, find_browser, find_browsers
from motivus_dev.browser.run import BrowserPackage, run_in_browser

__all__ = ["BROWSERS", "Browser", "BrowserPackage", "find_browser", "find_browsers", "run_in_browser"]
