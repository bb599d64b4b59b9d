"""`POST /ext/ai/org-summary`: a short summary of an organization's recent activity, written by
the AI provider for one of its members (docs/api.md, "AI").

In this order, so that nobody reaches the provider who may not, and no call goes unmetered:
what the caller may read of the organization (the database, ext.ai_org_activity: 404 for a
non-member); the request made from it and its hash; the cached answer, or a reservation of the
call's tokens against the organization's quota (ext.ai_reserve: 429 past it), in the read's
transaction and under the organization's lock it took, so that no change of role comes between
what was read and what is admitted; the call; then
the tokens the provider counted are charged, at most those reserved, and the answer cached
(ext.ai_settle; a report past the reservation is logged as a warning; tried again while the
database is out of reach, and when it stays so, the caller still has the answer and the tokens
are logged at ERROR for the operators), or, when the call failed, nothing is charged
(ext.ai_release); but for an answer the provider counted with no text to keep (UnkeptAnswer),
charged as an answer is, nothing cached, and the caller answered the provider's failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from blossom_db import generated as db
from blossom_db.database import Database, DatabaseUnavailable
from blossom_db.runtime import JsonValue, RpcError
from edge.auth import NO_STORE, accepted, call, guarded, internal_error, json_fields, session_token
from edge.config import EdgeConfig
from edge.errors import Refused
from edge.ext import failed_call, outside_services, service_refusal
from edge.routes import starlette_routes
from services.ai import ChatAnswer, ChatRequest, Message, UnkeptAnswer
from services.ai import not_configured as ai_not_configured
from services.errors import ServiceError

FEATURE = "org_summary"
# The failure a call the edge gave up on is recorded with (app.ai_usage.failure).
CANCELLED = "ai.cancelled"

log = logging.getLogger("edge.ai")
# The pauses before each further try of a settle the database could not take (a connection lost,
# a restart, a failover): about a second in all, within the request, whose caller is waiting.
SETTLE_RETRY_DELAYS = (0.1, 0.3, 0.6)
# No further try begins later than this after the first began, and each waits for a free database
# connection only what is left of it: a try that failed slowly (every connection busy for the
# edge's whole wait, 2 s; a statement timeout, a minute) is not made three times more. Each did
# so, and held its caller some 9 s (4 min) for an answer the edge already had.
SETTLE_RETRY_SECONDS = 1.5
# A few sentences; also the bound on what a call can cost beyond its prompt.
MAX_COMPLETION_TOKENS = 300
SYSTEM_PROMPT = (
    "You summarize the recent activity of an organization for one of its members. You are given "
    "what that member may see, as JSON: the organization's name and member count, its newest "
    "members, and its recent audit events (newest first, times in UTC; a plain member sees no "
    "events). Answer in at most four short sentences of plain English, without lists or "
    "headings. Use only the facts given; if there is little activity, say so."
)


def summary_request(model: str, activity: JsonValue) -> ChatRequest:
    """The chat request for an activity: the same activity makes the same request (and hash)."""
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(activity, sort_keys=True, ensure_ascii=False)},
    ]
    return ChatRequest(model=model, messages=messages, max_completion_tokens=MAX_COMPLETION_TOKENS)


async def org_summary(request: Request) -> Response:
    fields = await json_fields(request, "org_id")
    config: EdgeConfig = request.app.state.config
    session = session_token(request, config)
    ai = outside_services(request).ai
    if not ai.settings.configured:
        raise service_refusal(ai_not_configured())
    org_id = fields["org_id"]
    chat, reserved = await call(request, _reading_and_reserving(session, org_id, ai.settings.model))
    if reserved.refusal is not None:
        accepted(reserved.refusal)  # raises: the organization's quota is spent
    if reserved.cached_answer is not None:
        return _summary(org_id, reserved.cached_answer, cached=True)
    reservation = reserved.reservation_id
    if reservation is None:  # the function answers one or the other; never neither
        raise Refused(internal_error())
    under_way: CallsUnderWay = request.app.state.ai_calls
    under_way.begin(reservation, session, org_id, chat)
    cancelled = False
    try:
        try:
            answer = await ai.complete(chat)
        except UnkeptAnswer as unkept:
            # Made and billed, though nothing can be shown: charged what the provider counted, and
            # nothing cached. Released, it was free, and the same request could be sent and billed
            # again and again without the quota counting it.
            under_way.answered(reservation, unkept.counted)
            await _charge(request, session, org_id, reservation, chat, unkept.counted)
            raise failed_call(log, "the AI call", unkept, org_id) from None
        except ServiceError as error:
            failure = error.code
            # Tried again as the settle is: left reserved, the failed call was charged its
            # whole reservation once it lapsed (app.ai_usage_view). When it still cannot be
            # released, the caller has the provider's failure all the same.
            if not await _tried_again(request, _releasing(session, reservation, failure)):
                log.error(
                    "the AI call of reservation %d failed but could not be released: it is charged its "
                    "reservation once lapsed",
                    reservation,
                    extra=_call_fields(org_id, reservation, chat),
                )
            raise failed_call(log, "the AI call", error, org_id) from None
        under_way.answered(reservation, answer)
        await _charge(request, session, org_id, reservation, chat, answer)
    except asyncio.CancelledError:
        cancelled = True  # left under way: the edge's stop releases it (CallsUnderWay.release_all)
        raise
    finally:
        if not cancelled:
            under_way.end(reservation)
    return _summary(org_id, answer.text, cached=False)


def _reading_and_reserving(
    session: str | None, org_id: str, model: str
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[tuple[ChatRequest, db.ExtAiReserveRow]]]:
    """The caller's activity read, its request made, and the call reserved, in one transaction:
    the read takes the organization's lock (ext.ai_org_activity), so the role that chose what was
    read is the role the reserve admits. In two, an admin demoted between them had the audit
    trail summarized for a plain member."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[ChatRequest, db.ExtAiReserveRow]:
        activity = await db.ext_ai_org_activity_async(conn, p_session=session, p_org_id=org_id)
        chat = summary_request(model, activity)
        reserved = await db.ext_ai_reserve_async(
            conn,
            p_session=session,
            p_org_id=org_id,
            p_feature=FEATURE,
            p_model=chat.model,
            p_request_hash=chat.hash,
            p_tokens=chat.token_bound,
        )
        return chat, reserved

    return work


_Work = Callable[[psycopg.AsyncConnection[Any]], Awaitable[object]]


async def _charge(
    request: Request,
    session: str | None,
    org_id: str,
    reservation: int,
    chat: ChatRequest,
    answer: ChatAnswer,
) -> None:
    """Settles the call the provider answered. Tried again while the database cannot take it: a
    connection lost, a restart or a failover between the provider's answer and the settle left
    the reservation held for ten minutes and the tokens charged to nobody."""
    if await _tried_again(request, _settling(session, reservation, answer)):
        _note_over_report(org_id, reservation, chat, answer)
    else:
        _note_unsettled(org_id, reservation, chat, answer)


def _settling(session: str | None, reservation: int, answer: ChatAnswer) -> _Work:
    """Charges the call what the provider counted, and caches its answer, if it has one to keep
    (ext.ai_settle); a refusal (404: the organization deleted during the call) is raised as it is."""
    return lambda conn: db.ext_ai_settle_async(
        conn,
        p_session=session,
        p_reservation_id=reservation,
        p_prompt_tokens=answer.prompt_tokens,
        p_completion_tokens=answer.completion_tokens,
        p_answer=answer.text or None,
    )


def _releasing(session: str | None, reservation: int, failure: str) -> _Work:
    """Charges the call nothing, its failure's code kept (ext.ai_release)."""
    return lambda conn: db.ext_ai_release_async(
        conn, p_session=session, p_reservation_id=reservation, p_failure=failure
    )


async def _tried_again(request: Request, work: _Work) -> bool:
    """Runs a settle or a release, trying again after SETTLE_RETRY_DELAYS while the database
    cannot take it, within SETTLE_RETRY_SECONDS of the first try; False when the last try failed
    so too. Any other refusal is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_RETRY_SECONDS
    wait_seconds: float | None = None  # the first try waits as every call does
    for delay in (*SETTLE_RETRY_DELAYS, None):
        try:
            await call(request, work, wait_seconds=wait_seconds, in_share=False)
        except Refused as refused:
            # call() answers 503 for these: no connection, a lost one, or a state that passes (a
            # deadlock, a timeout); ext.ai_settle and ext.ai_release are no-ops for a call already
            # settled or released, in case the commit was made and only its acknowledgement lost.
            if not isinstance(refused.__cause__, (DatabaseUnavailable, psycopg.OperationalError)):
                raise
            if delay is None or loop.time() + delay >= deadline:
                return False
            await asyncio.sleep(delay)
            wait_seconds = deadline - loop.time()
        else:
            return True
    return False  # not reached: the last try returns or raises


def _call_fields(org_id: str, reservation: int, chat: ChatRequest, **more: int) -> dict[str, object]:
    """A log line's fields for one call the operators may have to reconcile: whose, which
    reservation, the model and what it reserved, and `more`; never the prompt or the answer."""
    return {
        "fields": {
            "org_id": org_id,
            "reservation_id": reservation,
            "model": chat.model,
            "reserved_tokens": chat.token_bound,
            **more,
        }
    }


def _note_unsettled(org_id: str, reservation: int, chat: ChatRequest, answer: ChatAnswer) -> None:
    """The call the provider answered could not be charged: an error for the operators, with
    what they need to charge it by hand (docs/services.md, "AI"), never the prompt or the answer.
    The reservation, left unsettled, is charged in full once it lapses (app.ai_usage_view)."""
    log.error(
        "the AI call of reservation %d was answered but could not be settled: charge it by hand",
        reservation,
        extra=_call_fields(
            org_id,
            reservation,
            chat,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
        ),
    )


@dataclass
class _Call:
    """A call under way: who made it, and the provider's answer once it came."""

    session: str | None
    org_id: str
    chat: ChatRequest
    answer: ChatAnswer | None = None


class CallsUnderWay:
    """The reservations of this edge's calls to the provider that are not settled yet. The edge
    stopping cancels the requests still running after its grace period (the provider may take
    longer), and releases their reservations as it stops: left reserved, each held its tokens
    and kept its request under way (409 ai.in_progress to everyone who asked it) for ten
    minutes."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}

    def begin(self, reservation: int, session: str | None, org_id: str, chat: ChatRequest) -> None:
        self._calls[reservation] = _Call(session, org_id, chat)

    def answered(self, reservation: int, answer: ChatAnswer) -> None:
        """The provider answered: from now on the call is to be charged, not released."""
        self._calls[reservation].answer = answer

    def end(self, reservation: int) -> None:
        self._calls.pop(reservation, None)

    async def release_all(self, database: Database) -> None:
        """Releases, charging nothing, every call still under way (before the database closes);
        one the provider had answered (cut short while it was being settled) is settled."""
        while self._calls:
            reservation, under_way = self._calls.popitem()
            answer = under_way.answer
            work = (
                _releasing(under_way.session, reservation, CANCELLED)
                if answer is None
                else _settling(under_way.session, reservation, answer)
            )
            try:
                async with database.transaction() as conn:
                    await work(conn)
            except (RpcError, DatabaseUnavailable, psycopg.Error) as error:
                if answer is None:
                    log.warning("the AI call of reservation %s could not be released: %r", reservation, error)
                else:
                    _note_unsettled(under_way.org_id, reservation, under_way.chat, answer)


def _note_over_report(org_id: str, reservation: int, chat: ChatRequest, answer: ChatAnswer) -> None:
    """A warning for the operators when the provider reported more tokens than the call reserved
    (chat.token_bound, the most it can use): ext.ai_settle charged the reservation, not the
    report, and kept the report in app.ai_usage.reported_tokens (admin.ai_usage counts them)."""
    reported = answer.prompt_tokens + answer.completion_tokens
    if reported <= chat.token_bound:
        return
    log.warning(
        "the AI provider reported %d tokens for a call that reserved %d: charged the reservation",
        reported,
        chat.token_bound,
        extra=_call_fields(
            org_id, reservation, chat, reported_tokens=reported, charged_tokens=chat.token_bound
        ),
    )


def _summary(org_id: str, text: str, *, cached: bool) -> Response:
    return JSONResponse({"org_id": org_id, "summary": text, "cached": cached}, headers=NO_STORE)


ROUTES = starlette_routes("/ext/ai/", {"ext.ai_org_summary": guarded(org_summary)})
