"""services/sheets.py: the real gspread and google-auth against the local fake of Google Sheets
and its token endpoint (tests/support/sheets_fake.py), and every failure as a ServiceError."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ops.scratch import free_port
from services.errors import ServiceError
from services.sheets import SheetsClient, SheetsSettings
from tests.support.sheets_fake import FakeSheets

KEY = "sheet-key-1"


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


def test_a_slow_answer_is_a_timeout(sheets_fake: FakeSheets) -> None:
    sheets_fake.add_spreadsheet(KEY, "metrics")
    client = client_for(sheets_fake, timeout=0.3)
    client.open(KEY)
    sheets_fake.delay = 1.0
    with pytest.raises(ServiceError) as raised:
        client.open(KEY)
    assert (raised.value.code, raised.value.status, raised.value.temporary) == ("sheets.timeout", 504, True)


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
