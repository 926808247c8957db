"""A site of the matrix: LANGUAGE_CODE = "de"."""

from tests.sites.base import *  # noqa: F403

LANGUAGE_CODE = "de"
