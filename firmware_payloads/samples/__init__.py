"""Sample bundle specs and the sample boot image (see quarterly-2026q4.yaml)."""
