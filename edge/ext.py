"""What the `/ext/*` routes share: the outside services the edge calls for a signed-in caller
(edge/slack.py, edge/ai.py), and how their failures are answered.

An /ext route reads its JSON body as the /auth routes do (CSRF, size, deadline: edge.auth), asks
the database whether the session's user may do it (an `ext.*` function, as role edge), and only
then calls the outside service. A ServiceError becomes our error shape with its status and, when
the provider asked us to wait, `Retry-After`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from starlette.requests import Request

from edge.auth import NO_STORE
from edge.errors import Refused, error_response
from services.ai import AiClient
from services.errors import ServiceError
from services.secrets import KEY_VARIABLE, KeyRing
from services.slack import SlackClient


@dataclass(frozen=True)
class OutsideServices:
    # None when BLOSSOM_SECRETS_KEY is unset: nothing can be sealed, so nothing is connected.
    keyring: KeyRing | None
    slack: SlackClient
    # Made without OPENAI_API_KEY too: its routes then answer 503 ai.not_configured.
    ai: AiClient

    @classmethod
    def from_environment(cls) -> OutsideServices:
        keyring = KeyRing.from_environment() if os.environ.get(KEY_VARIABLE, "").strip() else None
        return cls(keyring=keyring, slack=SlackClient.from_environment(), ai=AiClient.from_environment())

    async def close(self) -> None:
        await self.ai.close()


def outside_services(request: Request) -> OutsideServices:
    services: OutsideServices = request.app.state.outside
    return services


def service_refusal(error: ServiceError) -> Refused:
    headers = dict(NO_STORE)
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return Refused(error_response(error.status, error.code, error.message, headers=headers))


def failed_call(log: logging.Logger, doing: str, error: ServiceError, org_id: str) -> Refused:
    """The refusal of a call the outside service failed, and a warning naming why: the request's
    access line says its status alone, and a 502 could be a provider's 500, no connection, an
    answer cut short or one too large. The error's message is the client's, which never holds a
    credential or the provider's own words (services/errors.py)."""
    fields = {"code": error.code, "status": error.status, "temporary": error.temporary, "org_id": org_id}
    log.warning("%s failed: %s", doing, error.message, extra={"fields": fields})
    return service_refusal(error)


def not_configured(code: str, message: str) -> Refused:
    """503 `code`: this server is not set up for the outside service a route needs."""
    return Refused(error_response(503, code, message, headers=NO_STORE))


def keyring_or_refuse(request: Request, code: str) -> KeyRing:
    """The key ring that seals credentials; 503 `code` when this edge has none configured."""
    keyring = outside_services(request).keyring
    if keyring is None:
        raise not_configured(code, "This server keeps no credentials: BLOSSOM_SECRETS_KEY is not set.")
    return keyring
