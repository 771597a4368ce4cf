"""The one exception root of gateway.onboarding."""

from __future__ import annotations


class OnboardingError(Exception):
    """An onboarding step cannot go on; the message names the file, key or row and why."""
