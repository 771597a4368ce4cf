"""The sample bundle's El Torito boot image and its builder."""
