"""OpenAI chat completions through the official SDK, with our settings and our error shape.

    BLOSSOM_OPENAI_BASE_URL          where the API is, an http(s) URL (the SDK's own
                                     OPENAI_BASE_URL, checked alike, or its default when unset;
                                     a local fake in tests)
    OPENAI_API_KEY                   the key; without it the AI routes answer 503 ai.not_configured
    BLOSSOM_OPENAI_MODEL             the chat model (default gpt-4o-mini)
    BLOSSOM_OPENAI_TIMEOUT_SECONDS   seconds a call may take in all (default 30, at most 300)

The SDK retries nothing (`max_retries=0`): a request is metered once in the database, so a
retry is the caller's decision. Failures become a ServiceError: a timeout 504 `ai.timeout`, the
provider's 429 503 `ai.rate_limited` (with its Retry-After), anything else 502
`ai.provider_error` (an answer that is no chat completion too: not JSON, or JSON of another
shape, or over LARGEST_ANSWER_BYTES, as sent or inflated, which is not read further); none says more of the
provider's answer than its status. One of them, UnkeptAnswer, is an answer the provider counted
(and bills) without text we can keep: the caller's 502 all the same, but charged its counts.

A request is identified by the SHA-256 of its model, messages and parameters (`request_hash`):
the database caches answers by it, and the tests' fake provider replays recorded answers by it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blossom_db.settings import env_http_url, env_number
from services.errors import AnswerTooLarge, ServiceError, retry_after_seconds
from services.text import storable

if TYPE_CHECKING:
    import httpx2
    from openai import AsyncOpenAI

DEFAULT_MODEL = "gpt-4o-mini"
# What a 429 without a usable Retry-After asks the client to wait.
DEFAULT_RETRY_AFTER = 5.0
# What the ledger and the answer cache take (sql/schema/050_ai.sql: ai_answers_answer_length,
# ai_usage_*_tokens_range): an answer past them is the provider's failure, charged nothing. A
# count within them but past what the call reserved (ChatRequest.token_bound) is the provider's
# to report and not ours to charge: ext.ai_settle charges at most the reservation.
LONGEST_ANSWER = 20_000
MOST_TOKENS = 10_000_000
# The most of an answer read: a completion the ledger keeps is at most six bytes a character in
# JSON (\uXXXX), with little else. The SDK read any answer whole, bounded only by the timeout: three
# of 150 MB at once took the edge from 105 MB to 982 MB.
LARGEST_ANSWER_BYTES = 1 << 20
# A message costs a few tokens besides its content (its role, separators), and so does the reply's start.
TOKENS_PER_MESSAGE = 8
TOKENS_PER_REPLY = 16

Message = dict[str, str]

# The longest a call may be given: well within app.ai_reservation_lifetime() (10 minutes), after
# which its reservation stops holding the quota and its request stops being under way. A call
# that outlasted it let the calls made meanwhile past the quota, and the same request be paid for
# twice.
LONGEST_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class AiSettings:
    api_key: str | None = field(repr=False)
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds <= LONGEST_TIMEOUT_SECONDS:
            raise ValueError(
                f"BLOSSOM_OPENAI_TIMEOUT_SECONDS must be more than 0 and at most {LONGEST_TIMEOUT_SECONDS:g}"
                f" seconds, got {self.timeout_seconds:g}"
            )

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    @classmethod
    def from_environment(cls) -> AiSettings:
        return cls(
            api_key=os.environ.get("OPENAI_API_KEY", "").strip() or None,
            # The SDK's own OPENAI_BASE_URL, when ours is unset, is checked as ours is: the SDK
            # takes any text, and every call then failed.
            base_url=env_http_url("BLOSSOM_OPENAI_BASE_URL", "")
            or env_http_url("OPENAI_BASE_URL", "")
            or None,
            model=os.environ.get("BLOSSOM_OPENAI_MODEL", "").strip() or DEFAULT_MODEL,
            timeout_seconds=env_number("BLOSSOM_OPENAI_TIMEOUT_SECONDS", 30.0),
        )


def request_hash(model: str, messages: list[Message], parameters: dict[str, Any]) -> bytes:
    """SHA-256 of a chat request: its model, messages and other parameters, as canonical JSON."""
    canonical = json.dumps(
        {"model": model, "messages": messages, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).digest()


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[Message]
    max_completion_tokens: int
    temperature: float = 0.2

    @property
    def parameters(self) -> dict[str, Any]:
        """Everything sent besides the model and the messages."""
        return {"max_completion_tokens": self.max_completion_tokens, "temperature": self.temperature}

    @property
    def hash(self) -> bytes:
        return request_hash(self.model, self.messages, self.parameters)

    @property
    def token_bound(self) -> int:
        """The most tokens the call can be charged, which it reserves (ext.ai_reserve) and is
        never charged more than (ext.ai_settle), whatever the provider reports: a token is at
        least one byte of the text it stands for, so the prompt has at most as many as its UTF-8
        bytes (plus each message's overhead), and the completion at most max_completion_tokens."""
        prompt = sum(len(m["content"].encode()) + TOKENS_PER_MESSAGE for m in self.messages)
        return prompt + TOKENS_PER_REPLY + self.max_completion_tokens


@dataclass(frozen=True)
class ChatAnswer:
    """What the provider answered and counted. `text` is empty for an answer it counted, and bills
    us for, whose text could not be kept or shown (UnkeptAnswer): charged, never cached."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class UnkeptAnswer(ServiceError):
    """The provider answered with token counts the ledger takes, but with no text it can keep or
    the caller be shown (none, NUL, over LONGEST_ANSWER characters): the provider's failure to the
    caller (502 ai.provider_error), but a call made and billed, so it is charged what was counted
    (`counted`) like an answer, and nothing is cached."""

    def __init__(self, prompt_tokens: int, completion_tokens: int, message: str) -> None:
        super().__init__("ai.provider_error", message)
        self.counted = ChatAnswer("", prompt_tokens, completion_tokens)


def not_configured() -> ServiceError:
    """The refusal of an AI call by a process without OPENAI_API_KEY."""
    return ServiceError(
        "ai.not_configured", "This server has no AI provider: OPENAI_API_KEY is not set.", status=503
    )


class AiClient:
    """One per process, built from AiSettings; `close` it on the way out."""

    def __init__(self, settings: AiSettings) -> None:
        self.settings = settings
        self._client: AsyncOpenAI | None = None
        if settings.configured:
            # Imported only for a process that will call it: the SDK is most of what the edge
            # loads at start (0.9 s of its 1.4 s), and without a key its routes never use it.
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=settings.api_key,
                base_url=settings.base_url,
                timeout=settings.timeout_seconds,
                max_retries=0,
                http_client=_bounded_http_client(),
            )

    @classmethod
    def from_environment(cls) -> AiClient:
        return cls(AiSettings.from_environment())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def complete(self, request: ChatRequest) -> ChatAnswer:
        if self._client is None:
            raise not_configured()
        import openai  # loaded with the client above

        try:
            # The SDK's own timeout is httpx's, per read: an answer sent a byte at a time went on
            # for as long as the provider liked. This one is for the whole call.
            async with asyncio.timeout(self.settings.timeout_seconds):
                completion = await self._client.chat.completions.create(
                    model=request.model,
                    messages=request.messages,  # type: ignore[arg-type]
                    max_completion_tokens=request.max_completion_tokens,
                    temperature=request.temperature,
                )
        except (openai.APITimeoutError, TimeoutError):
            raise ServiceError(
                "ai.timeout",
                f"The AI provider did not answer within {self.settings.timeout_seconds:g} seconds.",
                status=504,
                temporary=True,
            ) from None
        except openai.RateLimitError as error:
            if error.code == "insufficient_quota":
                raise ServiceError(
                    "ai.provider_error", "The AI provider refused the call: our account's credit is used up."
                ) from None
            retry_after = retry_after_seconds(error.response.headers.get("retry-after"))
            raise ServiceError(
                "ai.rate_limited",
                "The AI provider is busy; try again shortly.",
                status=503,
                retry_after=DEFAULT_RETRY_AFTER if retry_after is None else retry_after,
                temporary=True,
            ) from None
        except openai.APIStatusError as error:
            raise ServiceError(
                "ai.provider_error",
                f"The AI provider answered {error.status_code}.",
                temporary=error.status_code >= 500,
            ) from None
        except AnswerTooLarge:
            raise ServiceError(
                "ai.provider_error", f"The AI provider's answer was over {LARGEST_ANSWER_BYTES >> 20} MiB."
            ) from None
        except openai.OpenAIError as error:
            raise ServiceError(
                "ai.provider_error",
                f"The AI provider could not be reached ({type(error).__name__}).",
                temporary=True,
            ) from None
        except (ValueError, RecursionError) as error:
            # The SDK parses an answer of status 200 itself and raises what the parser raised, no
            # OpenAIError: JSONDecodeError (a ValueError, as a UnicodeDecodeError is) for a body
            # that is not JSON, RecursionError for JSON nested too deep. What the provider sends
            # is its failure, never the edge's 500; a bug of ours still shows as one.
            raise ServiceError(
                "ai.provider_error", f"The AI provider's answer could not be read ({type(error).__name__})."
            ) from None
        return _answer(completion)


def _bounded_http_client() -> httpx2.AsyncClient:
    """The SDK's own HTTP client, whose answers are read up to LARGEST_ANSWER_BYTES, as they came
    and as they inflate (a compressed answer: 8 KiB of gzip is 8 MB). Made here, not at import:
    httpx2 comes with the SDK, which only a process with a key loads."""
    import httpx2
    from openai import DefaultAsyncHttpxClient

    class BoundedStream(httpx2.AsyncByteStream):
        def __init__(self, stream: httpx2.AsyncByteStream) -> None:
            self._stream = stream

        def __aiter__(self) -> AsyncIterator[bytes]:
            return _capped(self._stream.__aiter__())

        async def aclose(self) -> None:
            await self._stream.aclose()

    class BoundedResponse(httpx2.Response):
        # What the client reads an answer with (`aread`), after its Content-Encoding is undone,
        # a piece of at most a MiB at a time: counted here, the inflating stops at the cap (the
        # bytes as they came are counted too, by BoundedStream: an answer may inflate to little).
        def aiter_bytes(self, chunk_size: int | None = None) -> AsyncGenerator[bytes, None]:
            return _capped(super().aiter_bytes(chunk_size))

    class BoundedTransport(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            response = await super().handle_async_request(request)
            return BoundedResponse(
                response.status_code,
                headers=response.headers,
                stream=BoundedStream(response.stream),  # type: ignore[arg-type]
                extensions=response.extensions,
            )

    # A redirect is the provider's error, not followed: the API has one address, and a redirect
    # (307 and 308 send the body again) took the organization's prompt wherever it pointed,
    # another host or plain HTTP.
    return DefaultAsyncHttpxClient(transport=BoundedTransport(), follow_redirects=False)


async def _capped(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The chunks, until together they pass LARGEST_ANSWER_BYTES: AnswerTooLarge."""
    read = 0
    async for chunk in chunks:
        read += len(chunk)
        if read > LARGEST_ANSWER_BYTES:
            raise AnswerTooLarge
        yield chunk


def _answer(completion: Any) -> ChatAnswer:
    """The provider's answer as the ledger and the cache take it: text of Unicode without NUL,
    at most LONGEST_ANSWER characters, and token counts that are integers from 0 to MOST_TOKENS
    (as reported: the charge is bounded by the call's reservation in the database, not here).
    The SDK does not check what it parses: anything else (a list for the text, "lots" for a
    count, no message at all, JSON of another shape such as `[1,2]` or `{"choices": {}}`, which
    it passes on as it is) is the provider's failure: charged nothing without counts the ledger
    takes, else what was counted (UnkeptAnswer)."""
    choices = getattr(completion, "choices", None)
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    usage = getattr(completion, "usage", None)
    prompt_tokens = _count(getattr(usage, "prompt_tokens", None))
    completion_tokens = _count(getattr(usage, "completion_tokens", None))
    text = content.strip() if isinstance(content, str) else ""
    if prompt_tokens is None or completion_tokens is None:
        raise ServiceError("ai.provider_error", "The AI provider's answer had no token counts.")
    if not text:
        raise UnkeptAnswer(prompt_tokens, completion_tokens, "The AI provider's answer had no text.")
    if len(text) > LONGEST_ANSWER or not storable(text):
        raise UnkeptAnswer(
            prompt_tokens, completion_tokens, "The AI provider's answer was not text we can keep."
        )
    return ChatAnswer(text, prompt_tokens, completion_tokens)


def _count(value: object) -> int | None:
    """A token count the ledger takes, or None (bool is no count, though Python's int)."""
    return value if type(value) is int and 0 <= value <= MOST_TOKENS else None
