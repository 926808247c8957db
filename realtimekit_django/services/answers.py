"""Reading what the API answered: the parts the services need, or a clear ``InvalidResponse``."""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import InvalidResponse


def data_of(envelope: Mapping, what: str) -> dict:
    """The answer's ``data`` object."""
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise InvalidResponse(f"{what}: the answer's 'data' is not an object")
    return data


def token_of(payload: Mapping, what: str) -> str:
    """The participant token an add, edit or refresh answer carries."""
    token = payload.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidResponse(f"{what}: the answer carries no token")
    return token
