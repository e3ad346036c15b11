"""The one exception type users see as a message (exit status 2), never as a traceback, and how
an error of the operating system becomes one."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path


class ReportgenError(Exception):
    """A problem with the user's input or environment, explained in plain words."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: a notebook user sees the one line too."""
        return [f"ReportgenError: {self}"]


_NO_PERMISSION = "check its permissions, or use another {place}"
_IN_THE_WAY = "a file is where a folder is needed: move it, or use another {place}"
_FULL = "the disk is full: free some space ('reportgen cache prune' frees cache space)"
_ADVICE = {
    errno.ENOSPC: _FULL,
    errno.EDQUOT: _FULL,
    errno.EACCES: _NO_PERMISSION,
    errno.EPERM: _NO_PERMISSION,
    errno.EROFS: "it is on a read-only file system: use another {place}",
    errno.EEXIST: _IN_THE_WAY,
    errno.ENOTDIR: _IN_THE_WAY,
    errno.EISDIR: "a folder is where a file is needed: move it, or use another {place}",
    errno.ENOENT: "it does not exist, or was removed while reportgen ran",
}


def os_error(
    error: OSError, places: Sequence[tuple[Path, str]] = (), outcome: str | None = None
) -> ReportgenError:
    """One line for an OS error: the path, the system's reason, what to do, and ``outcome``
    (what became of the output). ``places`` names the option that chose each folder, such as
    ``(site_dir, "--out")``, so the advice can say which one to change."""
    path = error.filename
    place = "folder"
    if path is not None:
        resolved = Path(path).resolve()
        for folder, option in places:
            if resolved.is_relative_to(Path(folder).resolve()):
                place = option
                break
    reason = error.strerror or str(error) or type(error).__name__
    advice = _ADVICE.get(error.errno, "").format(place=place)
    parts = [f"{path}: {reason}" if path else reason, advice, outcome]
    return ReportgenError("; ".join(part for part in parts if part))
