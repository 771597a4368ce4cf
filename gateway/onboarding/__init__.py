"""Operators' first hour: `gateway init`, the persistent BMC registry's importers,
`doctor` and discovery. See docs/deploy.md and docs/configuration.md."""

from gateway.onboarding.errors import OnboardingError

__all__ = ["OnboardingError"]
