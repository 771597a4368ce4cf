"""Structured logs: an opt-in JSON format, one object per line.

Each line has time (ISO 8601 UTC), level, logger and message, plus the
exception text when there is one and any `extra=` fields a caller passed.
The message is formatted from the lazy %-arguments as usual; secrets never
reach it because callers never pass them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from gateway.api.settings import LoggingSettings

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, *, verbose: bool = False) -> None:
    """Apply [logging] to the root logger's handlers (adding a stderr handler if none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    formatter: logging.Formatter = (JsonFormatter() if settings.format == "json"
                                    else logging.Formatter(TEXT_FORMAT))
    for handler in root.handlers:
        handler.setFormatter(formatter)
    root.setLevel(logging.DEBUG if verbose else settings.level)
