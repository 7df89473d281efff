"""Readers of the raw export formats (SMPD, PixelRec, CrowdTangle, instaloader) into the canonical tables."""
