"""`/ext/slack/*`: connecting an organization to a Slack channel (docs/api.md, "Slack").

Connecting checks, in this order, so that nobody can use us to try tokens: the caller may
connect this organization to this channel (the database, ext.slack_may_connect); Slack knows
the bot token (auth.test); then the token is sealed here (services/secrets.py) and stored with
the caller's rights checked again (ext.connect_slack). The token never reaches Postgres in
plaintext, a log line, or an answer.
"""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from blossom_db import generated as db
from edge.auth import (
    NO_STORE,
    call,
    guarded,
    internal_error,
    invalid_field,
    json_fields,
    json_object,
    no_content,
    session_token,
)
from edge.config import EdgeConfig
from edge.errors import Refused
from edge.ext import failed_call, keyring_or_refuse, outside_services
from edge.routes import starlette_routes
from services.errors import ServiceError
from services.slack import bot_token_context

log = logging.getLogger("edge.slack")
# Slack's bot tokens: xoxb- and then digits, letters and dashes; anything else is not sent to Slack.
BOT_TOKEN_SHAPE = re.compile(r"xoxb-[A-Za-z0-9-]{10,250}")


async def connect(request: Request) -> Response:
    fields = await json_fields(request, "org_id", "bot_token", "channel")
    config: EdgeConfig = request.app.state.config
    session = session_token(request, config)
    bot_token = fields["bot_token"]
    if not BOT_TOKEN_SHAPE.fullmatch(bot_token):
        raise invalid_field("bot_token", "bot_token must be a Slack bot token (xoxb-…).")
    keyring = keyring_or_refuse(request, "slack.not_configured")
    org_id = await call(
        request,
        lambda conn: db.ext_slack_may_connect_async(
            conn, p_session=session, p_org_id=fields["org_id"], p_channel=fields["channel"]
        ),
    )
    if org_id is None:  # the function refuses or names the organization; never neither
        raise Refused(internal_error())
    try:
        identity = await outside_services(request).slack.auth_test(bot_token)
    except ServiceError as error:
        raise failed_call(log, "connecting Slack", error, org_id) from None
    sealed = keyring.seal(bot_token, bot_token_context(org_id))
    connection = await call(
        request,
        lambda conn: db.ext_connect_slack_async(
            conn,
            p_session=session,
            p_org_id=org_id,
            p_channel=fields["channel"],
            p_team_id=identity.team_id,
            p_team_name=identity.team_name,
            p_token_key_id=sealed.key_id,
            p_token_sealed=sealed.ciphertext,
        ),
    )
    return JSONResponse(json_object(connection), headers=NO_STORE)


async def disconnect(request: Request) -> Response:
    fields = await json_fields(request, "org_id")
    config: EdgeConfig = request.app.state.config
    session = session_token(request, config)
    await call(
        request,
        lambda conn: db.ext_disconnect_slack_async(conn, p_session=session, p_org_id=fields["org_id"]),
    )
    return no_content()


ROUTES = starlette_routes(
    "/ext/slack/", {"ext.slack_connect": guarded(connect), "ext.slack_disconnect": guarded(disconnect)}
)
