"""The one exception type users see as a message (exit status 2), never as a traceback."""


class ReportgenError(Exception):
    """A problem with the user's input or environment, explained in plain words."""

    exit_code = 2
