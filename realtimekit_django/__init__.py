"""Cloudflare RealtimeKit meetings for Django sites."""

__version__ = "0.1.0"
