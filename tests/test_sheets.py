"""services/sheets.py: the real gspread and google-auth against the local fake of Google Sheets
and its token endpoint (tests/support/sheets_fake.py), and every failure as a ServiceError."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops.scratch import free_port
from services import sheets
from services.errors import ServiceError
from services.sheets import Cell, SheetsClient, SheetsSettings
from tests.support import sheets_fake as sheets_fake_module
from tests.support.sheets_fake import FakeSheets
from tests.support.trickling_server import TricklingServer

KEY = "sheet-key-1"
# A byte every 50 ms: each comes long before a read's timeout, and the answers below are padded to
# take 10 s and more so; the calls' timeout is 1 s.
TRICKLE = 0.05


def client_for(fake: FakeSheets, timeout: float = 5.0) -> SheetsClient:
    return SheetsClient(SheetsSettings(fake.key_file, api_url=fake.url, timeout=timeout))


def test_replace_rows_writes_exactly_the_rows_in_one_batch(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.replace_rows(KEY, "metrics", [["day", "logins"], [date(2026, 1, 10), 3], ["total", None]])
    client.replace_rows(KEY, "metrics", [["day", "logins", "active"], [date(2026, 1, 11), 5, True]])
    assert sheets_fake.values(KEY, "metrics") == [["day", "logins", "active"], ["2026-01-11", 5.0, True]]
    batches = [line for line in sheets_fake.requests if line.endswith(":batchUpdate")]
    assert len(batches) == 2, "one batch per replacement"
    assert sheets_fake.requests[0] == "POST /token", (
        "the token comes from the service account file's token_uri"
    )


def test_rows_past_a_requests_limit_are_written_in_parts_and_replace_the_worksheet_at_once(
    sheets_fake: FakeSheets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google takes at most 10 MiB a request, some 25,000 rows of the metrics export (30 days of
    850 organizations; 10,000 organizations' are 120 MB): the one batch was refused, every run,
    for good. The rows now go into a worksheet of their own part by part, which one last batch
    copies over the worksheet and deletes: the worksheet is still replaced all at once. Both
    limits are made a thousand times smaller here, the rows with them (30,000 rows took 9 s)."""
    assert sheets.LARGEST_REQUEST_BYTES < sheets_fake_module.LARGEST_REQUEST_BYTES
    monkeypatch.setattr(sheets, "LARGEST_REQUEST_BYTES", sheets.LARGEST_REQUEST_BYTES >> 10)
    monkeypatch.setattr(sheets, "REQUEST_ROOM_BYTES", sheets.REQUEST_ROOM_BYTES >> 10)
    monkeypatch.setattr(
        sheets_fake_module, "LARGEST_REQUEST_BYTES", sheets_fake_module.LARGEST_REQUEST_BYTES >> 10
    )
    sheets_fake.add_spreadsheet(KEY, "metrics", "other")
    client = client_for(sheets_fake, timeout=60.0)
    client.replace_rows(KEY, "metrics", [["before"], ["x"], ["y"]])
    header: list[Cell] = ["day", "org_id", "members", "sent", "accepted", "logins", "active", "ai_tokens"]
    rows: list[list[Cell]] = [[date(2026, 1, 10), f"org_{n:026d}", n, 1, 2, 3, 4, 5] for n in range(300)]
    client.replace_rows(KEY, "metrics", [header, *rows])
    written = sheets_fake.values(KEY, "metrics")
    assert len(written) == len(rows) + 1
    assert written[0] == header
    assert written[1] == ["2026-01-10", f"org_{0:026d}", 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert written[-1][1] == f"org_{len(rows) - 1:026d}"
    assert [sheet.title for sheet in sheets_fake.spreadsheets[KEY]] == ["metrics", "other"], (
        "the worksheet the parts were written to is gone"
    )


def test_a_replacement_in_parts_keeps_the_worksheet_of_one_under_way(
    sheets_fake: FakeSheets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two exports at once (the schedule's and a `pipeline-run`): each replacement in parts took
    every worksheet titled as its staging for one left by a replacement that stopped, and deleted
    it, and the other export failed for good. Only those begun longer ago than a replacement may
    last (the call's timeout, and a margin for the clocks of two machines) are left ones now;
    one of a title that says no time is too."""
    monkeypatch.setattr(sheets, "LARGEST_REQUEST_BYTES", sheets.LARGEST_REQUEST_BYTES >> 10)
    monkeypatch.setattr(sheets, "REQUEST_ROOM_BYTES", sheets.REQUEST_ROOM_BYTES >> 10)
    now = datetime.now(UTC)
    under_way = f"metrics {sheets.STAGING_MARK}{now - timedelta(seconds=5):%Y-%m-%dT%H:%M:%SZ} 0a0b0c0d"
    stopped = f"metrics {sheets.STAGING_MARK}{now - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ} 1a1b1c1d"
    untimed = f"metrics {sheets.STAGING_MARK}2a2b2c2d"
    sheets_fake.add_spreadsheet(KEY, "metrics", under_way, stopped, untimed)
    rows: list[list[Cell]] = [[f"org_{n:026d}", n] for n in range(300)]
    client_for(sheets_fake, timeout=60.0).replace_rows(KEY, "metrics", rows)
    assert len(sheets_fake.values(KEY, "metrics")) == len(rows)
    assert [sheet.title for sheet in sheets_fake.spreadsheets[KEY]] == ["metrics", under_way]


@pytest.mark.parametrize("parts", [1, 2])
def test_a_worksheet_whose_header_a_person_froze_is_replaced_by_fewer_rows_than_it_froze(
    sheets_fake: FakeSheets, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """A person who reads the export freezes its header row (to scroll, or for a filter), or more.
    Sheets refuses a grid of no more rows than are frozen ("Sorry, it is not possible to delete all
    non-frozen rows."), nor of no more columns: an export of fewer rows (the header alone, when no
    organization has metrics in its days) failed on that worksheet, run after run, until someone
    unfroze it; in one batch or in parts. The grid keeps one empty row and column past the frozen
    ones, and the freeze stays the person's."""
    if parts > 1:
        monkeypatch.setattr(sheets, "LARGEST_REQUEST_BYTES", sheets.REQUEST_ROOM_BYTES + 20)
    sheets_fake.add_spreadsheet(KEY, "metrics")
    sheets_fake.freeze(KEY, "metrics", rows=2, columns=3)
    rows: list[list[Cell]] = [["day", "org_id"], ["2026-01-10", "org_1"]]
    client_for(sheets_fake).replace_rows(KEY, "metrics", rows)
    assert sheets_fake.values(KEY, "metrics") == rows
    assert sheets_fake.frozen(KEY, "metrics") == (2, 3)
    assert [sheet.title for sheet in sheets_fake.spreadsheets[KEY]] == ["metrics"]


def test_a_missing_worksheet_is_added(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "other")
    client_for(sheets_fake).replace_rows(KEY, "metrics", [["a", "b"]])
    assert sheets_fake.values(KEY, "metrics") == [["a", "b"]]
    assert sheets_fake.values(KEY, "other") == []


def test_open_reads_the_spreadsheet(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "one", "two")
    spreadsheet = client_for(sheets_fake).open(KEY)
    assert [sheet.title for sheet in spreadsheet.worksheets()] == ["one", "two"]


@pytest.mark.parametrize(
    ("status", "headers", "code", "http_status", "temporary", "retry_after"),
    [
        (429, {"Retry-After": "7"}, "sheets.rate_limited", 503, True, 7.0),
        (500, {}, "sheets.unavailable", 502, True, None),
        (503, {}, "sheets.unavailable", 502, True, None),
        (403, {}, "sheets.forbidden", 502, False, None),
        (400, {}, "sheets.rejected", 502, False, None),
    ],
)
def test_provider_failures_become_service_errors(
    sheets_fake: FakeSheets,
    status: int,
    headers: dict[str, str],
    code: str,
    http_status: int,
    temporary: bool,
    retry_after: float | None,
) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.open(KEY)  # the token is fetched; the failure hits the Sheets API
    sheets_fake.fail_next(status, headers=headers)
    with pytest.raises(ServiceError) as raised:
        client.replace_rows(KEY, "metrics", [["x"]])
    error = raised.value
    assert (error.code, error.status, error.temporary, error.retry_after) == (
        code,
        http_status,
        temporary,
        retry_after,
    )
    assert "injected" not in error.message, "the provider's answer is never passed on"
    assert sheets_fake.values(KEY, "metrics") == [], "nothing was written"


def test_an_unknown_spreadsheet_is_not_found(sheets_fake: FakeSheets) -> None:
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).open("no-such-key")
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.not_found",
        404,
        False,
    )


def test_a_refused_token_is_an_auth_failure(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    sheets_fake.fail_next(400)  # the token endpoint's answer
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).open(KEY)
    assert (raised.value.code, raised.value.temporary) == ("sheets.auth_failed", False)


@pytest.mark.parametrize(
    ("status", "headers", "code", "http_status", "retry_after"),
    [
        (429, {"Retry-After": "20"}, "sheets.rate_limited", 503, 20.0),
        (503, {}, "sheets.unavailable", 502, None),
    ],
)
def test_a_token_endpoint_that_fails_is_googles_failure_not_a_refusal(
    sheets_fake: FakeSheets,
    status: int,
    headers: dict[str, str],
    code: str,
    http_status: int,
    retry_after: float | None,
) -> None:
    """google-auth tries the token again on these, then raises the RefreshError it raises for a
    key refused: an outage of Google's, or its rate limit, was told to the operator as the service
    account's credentials refused (sheets.auth_failed), without the Retry-After."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    sheets_fake.fail_next(status, times=10, headers=headers)  # each of google-auth's tries
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).open(KEY)
    error = raised.value
    assert (error.code, error.status, error.temporary, error.retry_after) == (
        code,
        http_status,
        True,
        retry_after,
    )
    assert "token" in error.message, error.message


def test_a_slow_answer_is_a_timeout(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    # The first call (a token and the sheet) must come back within the timeout on a busy machine.
    client = client_for(sheets_fake, timeout=1.0)
    client.open(KEY)
    sheets_fake.delay = 2.0
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == ("sheets.timeout", 504, True)


def padded(answer: Any, size: int) -> bytes:
    """`answer` as JSON, padded with white space (JSON's own, which a parser skips) to `size` bytes."""
    text = json.dumps(answer).encode()
    return text[:-1] + b" " * (size - len(text)) + text[-1:]


def says_nothing_of_the_answer_or_the_credentials(error: ServiceError, fake: FakeSheets) -> bool:
    said = f"{error} {error.message}"
    secrets = [*fake.tokens, fake.service_account()["private_key"], "marker"]
    return not any(secret in said for secret in secrets)


def test_an_answer_sent_a_byte_at_a_time_is_cut_at_the_timeout(sheets_fake: FakeSheets) -> None:
    """BLOSSOM_SHEETS_TIMEOUT bounded each read of the socket, not the call: an answer written a
    byte at a time kept a call going for as long as the server liked."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake, timeout=1.0)
    client.open(KEY)
    stream = sheets_fake.stream_next(padded(sheets_fake.metadata(KEY), 400), piece=1, interval=TRICKLE)
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == ("sheets.timeout", 504, True)
    assert stream.finished.wait(10), "the server stopped writing: the client hung up"
    assert stream.cut, f"the whole answer was read ({stream.sent} bytes)"
    assert not [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)], (
        "the call's timer ended with it"
    )
    assert [sheet.title for sheet in client.open(KEY).worksheets()] == ["metrics"], "the client still works"


def test_a_token_sent_a_byte_at_a_time_is_cut_at_the_timeout(sheets_fake: FakeSheets) -> None:
    """The token's request is part of the call (google-auth's own session, its own retries)."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    token = {"access_token": "marker", "expires_in": 3600, "token_type": "Bearer"}
    stream = sheets_fake.stream_next(padded(token, 400), piece=1, interval=TRICKLE, path="/token")
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake, timeout=1.0).open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == ("sheets.timeout", 504, True)
    assert stream.finished.wait(10), "the server stopped writing: the client hung up"
    assert stream.cut, f"the whole answer was read ({stream.sent} bytes)"


def test_headers_sent_a_byte_at_a_time_are_cut_at_the_timeout(sheets_fake: FakeSheets) -> None:
    """The headers are read before any body, each byte in time too: the same bound cuts them."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    body = json.dumps(sheets_fake.metadata(KEY)).encode()
    answer = (
        b"HTTP/1.1 200 OK\r\nX-Padding: "
        + b"x" * 200
        + f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with TricklingServer(answer, TRICKLE) as slow:
        settings = SheetsSettings(sheets_fake.key_file, api_url=slow.url, timeout=1.0)
        with pytest.raises(ServiceError) as raised:
            SheetsClient(settings).open(KEY)
        assert slow.finished.wait(10), "the server stopped writing: the client hung up"
    assert (raised.value.code, raised.value.status, raised.value.temporary) == ("sheets.timeout", 504, True)
    assert slow.cut, f"the whole answer was read ({slow.sent} bytes)"


UNREADABLE_ANSWERS = {
    "not JSON": (b"<html>marker</html>", {}),
    "a JSON array": (b'["marker"]', {}),
    "an object without the spreadsheet's properties": (b'{"marker": 1}', {}),
    "properties that are no object": (b'{"properties": "marker", "sheets": []}', {}),
    "JSON nested past any parser": (b"[" * 100_000 + b"]" * 100_000, {}),
    "cut short of its length": (b'{"properties": {"title": "marker"', {"Content-Length": "1000"}),
    "gzip that is not": (b"marker, in no gzip", {"Content-Encoding": "gzip"}),
    "chunks that are not": (b"marker, in no chunk", {"Transfer-Encoding": "chunked"}),
}


@pytest.mark.parametrize("answer", UNREADABLE_ANSWERS.values(), ids=UNREADABLE_ANSWERS.keys())
def test_an_answer_that_is_no_sheets_answer_is_the_providers_failure(
    sheets_fake: FakeSheets, answer: tuple[bytes, dict[str, str]]
) -> None:
    """Each of these escaped as it was (JSONDecodeError, KeyError, TypeError, ChunkedEncodingError,
    ContentDecodingError, …), no ServiceError: the pipeline's run failed with a traceback."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.open(KEY)
    body, headers = answer
    sheets_fake.answer_next(body, headers=headers)
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.provider_error",
        502,
        True,
    )
    assert says_nothing_of_the_answer_or_the_credentials(raised.value, sheets_fake)


def test_a_batch_answered_in_another_shape_is_the_providers_failure(sheets_fake: FakeSheets) -> None:
    """gspread reads the added worksheet's id from the batch's first reply: none is an IndexError."""
    sheets_fake.add_spreadsheet(KEY, "other")
    sheets_fake.answer_next(b'{"replies": [], "marker": 1}', path=":batchUpdate")
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).replace_rows(KEY, "metrics", [["x"]])
    assert (raised.value.code, raised.value.temporary) == ("sheets.provider_error", True)
    assert says_nothing_of_the_answer_or_the_credentials(raised.value, sheets_fake)


# Not JSON; JSON without a token, which google-auth calls a refusal of the credentials (a
# RefreshError) and which was so answered, for good; and expires_in, which google-auth adds to
# the clock (datetime + timedelta): past datetime's range, or as JSON's Infinity, that is an
# OverflowError, which no reading of ours turned into a ServiceError.
TOKEN_ANSWERS_THAT_ARE_NO_TOKEN = {
    "not JSON": b"<html>marker</html>",
    "no access token": b'{"marker": 1, "expires_in": 3600, "token_type": "Bearer"}',
    "a trillion seconds": b'{"access_token": "marker", "expires_in": 1000000000000, "token_type": "Bearer"}',
    "a trillion seconds, as a string": b'{"access_token": "marker", "expires_in": "1000000000000"}',
    "1e300 seconds": b'{"access_token": "marker", "expires_in": 1e300, "token_type": "Bearer"}',
    "Infinity": b'{"access_token": "marker", "expires_in": Infinity, "token_type": "Bearer"}',
}


@pytest.mark.parametrize(
    "answer", TOKEN_ANSWERS_THAT_ARE_NO_TOKEN.values(), ids=TOKEN_ANSWERS_THAT_ARE_NO_TOKEN.keys()
)
def test_a_token_answer_that_is_no_token_is_the_providers_failure(
    sheets_fake: FakeSheets, answer: bytes
) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    sheets_fake.answer_next(answer, path="/token")
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.provider_error",
        502,
        True,
    )
    assert says_nothing_of_the_answer_or_the_credentials(raised.value, sheets_fake)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("path", ["/token", ":batchUpdate"], ids=["the token", "the rows"])
def test_a_redirect_is_not_followed(sheets_fake: FakeSheets, status: int, path: str) -> None:
    """requests followed redirects (30 of them): 307 and 308 send the body again, wherever the
    Location points, another host or plain HTTP, where requests keeps no credential of its own but
    the body: every tenant's rows of the export, and, from the token endpoint, the service
    account's signed assertion, which Google exchanges for an access token for an hour. Neither
    API redirects; a redirect is not followed, the provider's failure."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    sheets_fake.answer_next(
        b"", status=status, headers={"Location": f"{sheets_fake.url}/elsewhere"}, path=path
    )
    with pytest.raises(ServiceError) as raised:
        client_for(sheets_fake).replace_rows(KEY, "metrics", [["day"], ["2026-01-10"]])
    assert not any(line.endswith("/elsewhere") for line in sheets_fake.requests), sheets_fake.requests
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.provider_error",
        502,
        False,
    )
    assert raised.value.message == "Google answered a redirect, which is not followed."


def test_a_redirect_loop_is_the_providers_failure(sheets_fake: FakeSheets) -> None:
    """A redirect is not followed (above), a loop of them neither; trying again will not help."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.open(KEY)
    loop = {"Location": f"{sheets_fake.url}/v4/spreadsheets/{KEY}?marker"}
    sheets_fake.answer_next(b"", status=302, headers=loop, times=100)
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.provider_error",
        502,
        False,
    )
    assert says_nothing_of_the_answer_or_the_credentials(raised.value, sheets_fake)


@pytest.mark.parametrize("declared", [True, False], ids=["with its length", "until the connection closes"])
def test_an_answer_too_large_is_not_read_past_the_cap(sheets_fake: FakeSheets, declared: bool) -> None:
    """requests read any answer whole. This one is the spreadsheet's metadata padded to 64 MiB,
    8 times the cap: the call fails, and the client hangs up long before the fake has written it
    all (what the kernel's buffers take is a few MiB)."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.open(KEY)
    stream = sheets_fake.stream_next(padded(sheets_fake.metadata(KEY), 64 << 20), declared=declared)
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == (
        "sheets.provider_error",
        502,
        True,
    )
    assert raised.value.message == "Google Sheets' answer was over 8 MiB."
    assert stream.finished.wait(10), "the server stopped writing: the client hung up"
    assert stream.cut, "the connection was closed before the answer's end"
    assert stream.sent < 32 << 20, f"{stream.sent} bytes were taken of {len(stream.body)}"


def test_a_compressed_answer_is_not_inflated_past_the_cap(sheets_fake: FakeSheets) -> None:
    """64 MiB of metadata in 64 KB of gzip: the cap is on what the answer inflates to."""
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake)
    client.open(KEY)
    sheets_fake.answer_next(
        gzip.compress(padded(sheets_fake.metadata(KEY), 64 << 20)), headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.message) == (
        "sheets.provider_error",
        "Google Sheets' answer was over 8 MiB.",
    )


def test_no_server_is_unreachable(sheets_fake: FakeSheets) -> None:
    nowhere = SheetsSettings(sheets_fake.key_file, api_url=f"http://127.0.0.1:{free_port()}", timeout=5.0)
    with pytest.raises(ServiceError) as raised:
        SheetsClient(nowhere).open(KEY)
    assert (raised.value.code, raised.value.temporary) == ("sheets.unreachable", True)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)
    with pytest.raises(ValueError, match="BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE"):
        SheetsSettings.from_environment()
    monkeypatch.setenv("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", str(tmp_path / "sa.json"))
    monkeypatch.setenv("BLOSSOM_SHEETS_API_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("BLOSSOM_SHEETS_TIMEOUT", "2.5")
    assert SheetsSettings.from_environment() == SheetsSettings(
        tmp_path / "sa.json", "http://127.0.0.1:9", 2.5
    )
    monkeypatch.setenv("BLOSSOM_SHEETS_API_URL", "sheets.local")
    with pytest.raises(ValueError, match="BLOSSOM_SHEETS_API_URL"):
        SheetsSettings.from_environment()
    (tmp_path / "sa.json").write_text("{}")
    with pytest.raises(ValueError, match="service account"):
        SheetsClient(SheetsSettings(tmp_path / "sa.json"))
