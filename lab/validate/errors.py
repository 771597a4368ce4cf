"""The one exception root of the validation harness."""

from __future__ import annotations


class ValidateError(Exception):
    """The harness cannot run: unreadable trusted key, matrix or output path.

    A bundle that fails its checks is not an error: it is a report with
    failed results. The message is one line naming the file and the problem.
    """
