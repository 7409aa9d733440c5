"""Headless Chromium, the one browser socklab drives: PNG drawings here, DOM checks in tests.

Debian's `chromium` package. As root it needs --no-sandbox; every run gets a fresh
profile folder and no background networking, so nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from socklab.errors import InfrastructureError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium binary ($SOCKLAB_CHROMIUM first), or None."""
    explicit = os.environ.get("SOCKLAB_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def headless_args(profile: Path) -> list[str]:
    """Flags for a quiet, offline, root-safe headless Chromium with its own profile."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars",
            "--mute-audio", f"--user-data-dir={profile}"]


MIN_HEIGHT = 160  # CSS px: headless Chromium paints nothing but borders in shorter windows


def screenshot(page: Path, out: Path, width: int, height: int, timeout: float = 60.0, scale: int = 1) -> None:
    """Render a local file (HTML or SVG) at width x height CSS pixels into the PNG `out`.

    Heights under MIN_HEIGHT are padded (white below): Chromium renders such windows blank.
    """
    binary = find_chromium()
    if binary is None:
        raise InfrastructureError("PNG needs Chromium (apt-get install chromium); svg, dot and mermaid do not")
    with tempfile.TemporaryDirectory(prefix="socklab-chromium-", ignore_cleanup_errors=True) as profile:
        argv = [binary, *headless_args(Path(profile)), f"--screenshot={out}", f"--window-size={width},{max(height, MIN_HEIGHT)}",
                f"--force-device-scale-factor={scale}",
                "--default-background-color=ffffffff", page.resolve().as_uri()]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"chromium did not render {page} within {timeout:g}s") from None
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InfrastructureError(f"chromium could not render {page}: {tail}")
