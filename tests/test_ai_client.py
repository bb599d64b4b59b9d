"""services/ai.py: the real `openai` SDK against the local fake provider (tests/support/
fake_openai.py), answers replayed from recorded fixtures, and each provider failure turned into
our error shape."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.ai import AiClient, AiSettings, ChatAnswer, ChatRequest, UnkeptAnswer, request_hash
from services.errors import ServiceError
from tests.support.fake_openai import MALFORMED_ANSWERS, FakeOpenAI, fixture_path, recorded_request
from tests.support.imports import loaded_by

CHAT = ChatRequest(
    model="gpt-test",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Größe? 🌸"}],
    max_completion_tokens=40,
)


def record(folder: Path, chat: ChatRequest, text: str, prompt_tokens: int, completion_tokens: int) -> None:
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    answer_with(folder, chat, choice, usage)


def answer_with(folder: Path, chat: ChatRequest, choice: object, usage: object) -> None:
    """The fixture of `chat`: a provider's answer with this choice and usage, as given."""
    body = {"model": chat.model, "messages": chat.messages, **chat.parameters}
    response = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1767225600,
        "model": chat.model,
        "choices": [choice],
        "usage": usage,
    }
    fixture_path(chat.hash, folder).write_text(
        json.dumps({"request": recorded_request(body), "response": response})
    )


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(tmp_path, record=False, hold_seconds=4.0) as running:
        yield running


def complete(fake: FakeOpenAI, chat: ChatRequest = CHAT, *, key: str | None = "sk-test") -> ChatAnswer:
    async def run() -> ChatAnswer:
        # Room for a recording fake's own call on a busy machine (0.5 s was not, once); the fake
        # holds a call it was told to time out for longer.
        client = AiClient(AiSettings(api_key=key, base_url=fake.base_url, timeout_seconds=2.0))
        try:
            return await client.complete(chat)
        finally:
            await client.close()

    return asyncio.run(run())


def refusal(fake: FakeOpenAI, chat: ChatRequest = CHAT) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        complete(fake, chat)
    return raised.value


def test_the_sdk_gets_the_recorded_answer_of_its_request(fake: FakeOpenAI, tmp_path: Path) -> None:
    record(tmp_path, CHAT, "  Short.  ", 21, 2)
    assert complete(fake) == ChatAnswer("Short.", 21, 2)
    assert fake.calls == [CHAT.hash.hex()]


def test_the_hash_is_of_the_model_the_messages_and_every_parameter() -> None:
    same = ChatRequest(CHAT.model, [dict(m) for m in CHAT.messages], CHAT.max_completion_tokens)
    assert same.hash == CHAT.hash
    others = [
        ChatRequest("gpt-other", CHAT.messages, CHAT.max_completion_tokens),
        ChatRequest(CHAT.model, CHAT.messages[1:], CHAT.max_completion_tokens),
        ChatRequest(CHAT.model, CHAT.messages, CHAT.max_completion_tokens + 1),
        ChatRequest(CHAT.model, CHAT.messages, CHAT.max_completion_tokens, temperature=0.9),
    ]
    assert len({CHAT.hash, *(other.hash for other in others)}) == 5
    assert request_hash("m", [], {"a": 1, "b": 2}) == request_hash("m", [], {"b": 2, "a": 1})


def test_the_reservation_bounds_what_the_call_can_cost() -> None:
    # At most a token per byte of the prompt (the emoji is 4 bytes, ß and ö 2 each), plus overhead.
    prompt_bytes = sum(len(m["content"].encode()) for m in CHAT.messages)
    assert CHAT.token_bound == prompt_bytes + 2 * 8 + 16 + CHAT.max_completion_tokens


def test_a_request_without_a_recording_is_refused_and_named(fake: FakeOpenAI) -> None:
    error = refusal(fake)
    assert (error.code, error.status) == ("ai.provider_error", 502)
    assert len(fake.missing) == 1
    assert fake.missing[0].startswith(CHAT.hash.hex())
    assert "Größe? 🌸" in fake.missing[0]


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"),
    [
        ("timeout", 504, "ai.timeout", None),
        ("rate_limited", 503, "ai.rate_limited", 7.0),
        ("server_error", 502, "ai.provider_error", None),
    ],
)
def test_provider_failures_become_our_errors(
    fake: FakeOpenAI, tmp_path: Path, failure: str, status: int, code: str, retry_after: float | None
) -> None:
    record(tmp_path, CHAT, "Short.", 21, 2)
    fake.fail_next(failure)
    error = refusal(fake)
    assert (error.status, error.code, error.retry_after) == (status, code, retry_after)
    assert "fake" not in error.message, "the provider's own words are not passed on"
    assert complete(fake).text == "Short.", "one failure, and the next call is answered"
    assert len(fake.calls) == 2, "no retry by the SDK: each request is metered once"


def test_the_timeout_bounds_the_whole_call_not_each_read(fake: FakeOpenAI, tmp_path: Path) -> None:
    """The SDK's timeout is httpx's, per read: an answer that came a byte at a time took 6 s
    under a timeout of 2 and was charged."""
    record(tmp_path, CHAT, "Slowly.", 21, 2)
    fake.fail_next("trickle")
    started = time.monotonic()
    assert refusal(fake).code == "ai.timeout"
    assert time.monotonic() - started < fake.hold_seconds


COUNTS = {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23}


@pytest.mark.parametrize(
    ("choice", "usage"),
    [
        ({"index": 0, "message": {"role": "assistant", "content": "a\u0000b"}}, COUNTS),
        ({"index": 0, "message": {"role": "assistant", "content": "a\ud800b"}}, COUNTS),
        ({"index": 0, "message": {"role": "assistant", "content": "x" * 20001}}, COUNTS),
        ({"index": 0, "message": {"role": "assistant", "content": ["a", "list"]}}, COUNTS),
        ({"index": 0}, COUNTS),
        (
            {"index": 0, "message": {"role": "assistant", "content": "Fine."}},
            COUNTS | {"prompt_tokens": None},
        ),
        (
            {"index": 0, "message": {"role": "assistant", "content": "Fine."}},
            COUNTS | {"prompt_tokens": 2**40},
        ),
        (
            {"index": 0, "message": {"role": "assistant", "content": "Fine."}},
            COUNTS | {"completion_tokens": -1},
        ),
        (
            {"index": 0, "message": {"role": "assistant", "content": "Fine."}},
            COUNTS | {"completion_tokens": "lots"},
        ),
        (
            {"index": 0, "message": {"role": "assistant", "content": "Fine."}},
            COUNTS | {"completion_tokens": 2.5},
        ),
    ],
)
def test_an_answer_the_ledger_cannot_take_is_a_provider_error(
    fake: FakeOpenAI, tmp_path: Path, choice: object, usage: object
) -> None:
    """The ledger and the cache take text without NUL of at most 20,000 characters and counts
    from 0 to 10,000,000 (sql/schema/050_ai.sql): anything else the provider sends made the edge
    answer 500 and left the reservation held, where the call is a provider's failure. One with
    counts the ledger takes is billed all the same, and carries them, to be charged."""
    answer_with(tmp_path, CHAT, choice, usage)
    error = refusal(fake)
    assert error.code == "ai.provider_error"
    assert isinstance(error, UnkeptAnswer) is (usage == COUNTS)
    if isinstance(error, UnkeptAnswer):
        assert error.counted == ChatAnswer("", 21, 2)


@pytest.mark.parametrize("raw", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
def test_an_answer_that_is_no_chat_completion_is_a_provider_error(fake: FakeOpenAI, raw: bytes) -> None:
    """The SDK's parsing raised JSONDecodeError or RecursionError, and reading what it made of
    the others AttributeError or KeyError: none an OpenAIError, so the edge answered 500."""
    fake.answer_next_with(raw)
    error = refusal(fake)
    assert (error.code, error.status) == ("ai.provider_error", 502)


def test_an_answer_without_text_is_a_provider_error_that_carries_its_counts(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    record(tmp_path, CHAT, "", 21, 0)
    error = refusal(fake)
    assert (error.code, error.status) == ("ai.provider_error", 502)
    assert isinstance(error, UnkeptAnswer)
    assert error.counted == ChatAnswer("", 21, 0)


LOADS_THE_SDK = """
import sys
from services.ai import AiClient, AiSettings
AiClient(AiSettings(api_key=sys.argv[1] or None))
"""


@pytest.mark.parametrize(("key", "loaded"), [("", []), ("sk-test", ["openai"])])
def test_the_sdk_is_loaded_only_by_a_process_with_a_key(key: str, loaded: list[str]) -> None:
    """Every edge makes an AiClient; the SDK is most of what one would load at start."""
    assert loaded_by(LOADS_THE_SDK, ("openai",), key) == loaded


def test_a_client_without_a_key_refuses_to_call() -> None:
    client = AiClient(AiSettings(api_key=None))
    with pytest.raises(ServiceError) as refused:
        asyncio.run(client.complete(CHAT))
    assert (refused.value.code, refused.value.status) == ("ai.not_configured", 503)
    asyncio.run(client.close())


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "BLOSSOM_OPENAI_BASE_URL",
        "BLOSSOM_OPENAI_MODEL",
        "BLOSSOM_OPENAI_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    unset = AiSettings.from_environment()
    assert (unset.configured, unset.model, unset.timeout_seconds, unset.base_url) == (
        False,
        "gpt-4o-mini",
        30.0,
        None,
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("BLOSSOM_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("BLOSSOM_OPENAI_MODEL", "gpt-other")
    monkeypatch.setenv("BLOSSOM_OPENAI_TIMEOUT_SECONDS", "2.5")
    given = AiSettings.from_environment()
    assert (given.configured, given.model, given.timeout_seconds, given.base_url) == (
        True,
        "gpt-other",
        2.5,
        "http://127.0.0.1:9/v1",
    )
    assert "sk-secret" not in repr(given), "the key never shows in a repr (and so in a log line)"
    monkeypatch.setenv("BLOSSOM_OPENAI_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ValueError, match="BLOSSOM_OPENAI_TIMEOUT_SECONDS"):
        AiSettings.from_environment()


def test_a_call_cannot_outlast_its_reservation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reservation stops holding the quota after app.ai_reservation_lifetime() (10 minutes):
    a call given longer (BLOSSOM_OPENAI_TIMEOUT_SECONDS=900) was still running when its tokens
    stopped counting, so calls made meanwhile were admitted past the quota, and the same request
    was no longer under way and was paid for twice. The setting stops the edge at start."""
    monkeypatch.setenv("BLOSSOM_OPENAI_TIMEOUT_SECONDS", "300")
    assert AiSettings.from_environment().timeout_seconds == 300
    monkeypatch.setenv("BLOSSOM_OPENAI_TIMEOUT_SECONDS", "900")
    with pytest.raises(ValueError, match=r"BLOSSOM_OPENAI_TIMEOUT_SECONDS must be .* at most 300"):
        AiSettings.from_environment()


def test_recording_asks_the_provider_and_writes_what_is_replayed(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`./dev rerecord-llm` with another fake as "the provider": the recording fake sends the
    request on with this process's OPENAI_API_KEY and OPENAI_BASE_URL, and writes the fixture."""
    record(tmp_path, CHAT, "From the provider.", 30, 4)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    recordings = tmp_path / "recorded"
    with FakeOpenAI(recordings, record=True) as recorder:
        assert complete(recorder) == ChatAnswer("From the provider.", 30, 4)
    assert fake.calls == [CHAT.hash.hex()]
    written = json.loads(fixture_path(CHAT.hash, recordings).read_text())
    assert written["request"] == {
        "model": CHAT.model,
        "messages": CHAT.messages,
        "parameters": CHAT.parameters,
    }
    with FakeOpenAI(recordings, record=False) as replaying:
        assert complete(replaying).text == "From the provider."


def test_an_answer_over_a_mib_is_not_read_whole(fake: FakeOpenAI) -> None:
    """The SDK read a provider's whole answer into memory, bounded only by the timeout: three
    answers of 150 MB at once took the edge from 105 MB to 982 MB. A completion the ledger keeps
    (20,000 characters, at most six bytes each in JSON) is far under a MiB."""
    answer = {"id": "c", "object": "chat.completion", "choices": [{"message": {"content": "x" * (8 << 20)}}]}
    fake.answer_next_with(json.dumps(answer).encode())
    error = refusal(fake)
    assert (error.code, error.status, error.temporary) == ("ai.provider_error", 502, False)
    assert "over 1 MiB" in error.message


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
    ],
)
def test_a_compressed_answer_is_not_read_past_a_mib_as_it_inflates(
    fake: FakeOpenAI, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    """The cap counted the bytes that came, before the SDK's HTTP client inflated them: 8 KiB of
    gzip became 8 MB in the edge (255 KiB of it, 300 MB), read whole."""
    answer = {"id": "c", "object": "chat.completion", "choices": [{"message": {"content": "x" * (8 << 20)}}]}
    sent = compress(json.dumps(answer).encode())
    assert len(sent) < 64 << 10
    fake.answer_next_with(sent, {"Content-Encoding": encoding})
    error = refusal(fake)
    assert (error.code, error.status, error.temporary) == ("ai.provider_error", 502, False)
    assert "over 1 MiB" in error.message


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_is_not_followed(fake: FakeOpenAI, status: int) -> None:
    """The SDK's HTTP client followed redirects: whatever answered for the provider's base URL
    could have the organization's prompt sent on (307 and 308 send the request's body again) to
    another host, or over plain HTTP."""
    fake.answer_next_with(b"", {"Location": f"{fake.base_url}/chat/completions"}, status=status)
    error = refusal(fake)
    assert (error.code, error.status) == ("ai.provider_error", 502)
    assert len(fake.calls) == 1
