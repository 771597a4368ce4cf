"""Retry with exponential backoff for transient errors (pure arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts``: total tries including the first (≥ 1). Delays in seconds:
    ``base`` × ``factor`` ** (attempt − 1), never above ``max_delay``."""

    attempts: int = 5
    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError(f"invalid retry policy {self}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return min(self.base * self.factor ** (attempt - 1), self.max_delay)

    def should_retry(self, attempt: int, transient: bool) -> bool:
        """Retry only transient errors, and only while tries remain."""
        return transient and attempt < self.attempts
