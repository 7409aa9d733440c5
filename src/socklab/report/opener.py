"""Open a report in the user's browser, or say where it is when there is no browser to open."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def has_display() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(path: Path) -> bool:
    """Hand the file to xdg-open (or Python's webbrowser); False when no graphical browser is at hand.

    Without a display we do not try: webbrowser would fall back to a text browser that takes
    over the terminal.
    """
    if not has_display():
        return False
    opener = shutil.which("xdg-open")
    if opener is not None:
        try:
            subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
            return True
        except OSError:
            pass
    import webbrowser

    return webbrowser.open(path.resolve().as_uri())
