"""The intake application service: trust, deduplication, recording and image acquisition."""
