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


class DamagedFile(ReportgenError):
    """A file reportgen wrote (a maps file, a cached result) that no longer reads: names it and
    why, so the command can say what to do, or (a cache entry) compute it again."""

    def __init__(self, path: object, reason: str, advice: str = "write it again"):
        super().__init__(path, reason, advice)  # all three: a worker's error pickles whole
        self.path, self.reason, self.advice = path, reason, advice

    @classmethod
    def met(cls, path: object, error: Exception) -> DamagedFile:
        """From the error reading it met, in plain words where numpy's are obscure: a file that
        is no zip reads as "pickled data", an empty one as EOFError."""
        reason = str(error.args[0]) if isinstance(error, KeyError) else str(error)
        if isinstance(error, EOFError) or "pickle" in reason:
            reason = "empty or cut short" if isinstance(error, EOFError) else "not an .npz file"
        return cls(path, reason or type(error).__name__)

    def __str__(self) -> str:
        return f"{self.path}: damaged, it does not read ({self.reason}); {self.advice}"


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
    errno.EIO: "the system could not read or write it there: use another {place}",
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
