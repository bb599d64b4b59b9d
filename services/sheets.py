"""Google Sheets, through gspread: open a spreadsheet by its key, replace a worksheet's rows.

    BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE   the service account's JSON key file (required)
    BLOSSOM_SHEETS_API_URL                the Sheets API's base URL (default Google's)
    BLOSSOM_SHEETS_TIMEOUT                seconds one request may take, the token's included (30)

gspread names every endpoint by its full Google URL (gspread.urls) and sends every request
through its HTTP client's `request`; the client class is a parameter of `gspread.Client`, so the
base URL is changed there, in one place, by a subclass that rewrites the start of each URL. The
OAuth token is fetched from the `token_uri` the service-account file names, as Google's library
does: a test's file names its fake. Only the Sheets API is rebased; the operations here use
nothing else (no Drive API).

Every failure becomes a ServiceError (`sheets.*`), temporary when trying again later may work
(429 with its Retry-After, 5xx, a timeout, no connection). Its message never carries the
provider's answer or a credential.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import gspread
import requests
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.service_account import Credentials
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound
from gspread.http_client import HTTPClient

from blossom_db.settings import env_number
from services.errors import ServiceError, retry_after_seconds

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"
# Reading and writing spreadsheets the service account was given; nothing of Drive.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)

Cell = str | int | float | Decimal | bool | date | datetime | None
T = TypeVar("T")


@dataclass(frozen=True)
class SheetsSettings:
    service_account_file: Path
    api_url: str = GOOGLE_SHEETS_URL
    timeout: float = 30.0

    @classmethod
    def from_environment(cls) -> SheetsSettings:
        path = os.environ.get("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", "").strip()
        if not path:
            raise ValueError(
                "BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE must name a service account's JSON key file"
            )
        api_url = os.environ.get("BLOSSOM_SHEETS_API_URL", "").strip() or GOOGLE_SHEETS_URL
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"BLOSSOM_SHEETS_API_URL must be an http(s) URL, not {api_url!r}")
        return cls(
            service_account_file=Path(path),
            api_url=api_url.rstrip("/"),
            timeout=env_number("BLOSSOM_SHEETS_TIMEOUT", 30.0),
        )


def _client_class(api_url: str) -> type[HTTPClient]:
    """gspread's HTTP client with Google's base URL replaced by `api_url`."""

    class RebasedHTTPClient(HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
            if endpoint.startswith(GOOGLE_SHEETS_URL):
                endpoint = api_url + endpoint[len(GOOGLE_SHEETS_URL) :]
            return super().request(method, endpoint, *args, **kwargs)

    return RebasedHTTPClient


class SheetsClient:
    """One per process, built from settings; each call makes its requests and returns."""

    def __init__(self, settings: SheetsSettings) -> None:
        try:
            credentials = Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(settings.service_account_file), scopes=list(SCOPES)
            )
        except (OSError, ValueError) as error:
            raise ValueError(
                f"BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE: not a service account's key file: {error}"
            ) from None
        session = AuthorizedSession(credentials, refresh_timeout=settings.timeout)  # type: ignore[no-untyped-call]
        self._gspread = gspread.Client(credentials, session, http_client=_client_class(settings.api_url))
        self._gspread.set_timeout(settings.timeout)

    @classmethod
    def from_environment(cls) -> SheetsClient:
        return cls(SheetsSettings.from_environment())

    def open(self, key: str) -> gspread.Spreadsheet:
        """The spreadsheet of that key (its metadata read once)."""
        return _provider_call(lambda: self._gspread.open_by_key(key))

    def replace_rows(self, key: str, worksheet: str, rows: Sequence[Sequence[Cell]]) -> None:
        """Make the worksheet hold exactly `rows` (the first one is usually a header): one batch
        that resizes the grid, clears it and writes every cell, applied by Sheets all or nothing.
        The worksheet is added when the spreadsheet has none of that title."""
        width = max((len(row) for row in rows), default=0)

        def replace() -> None:
            spreadsheet = self._gspread.open_by_key(key)
            try:
                sheet = spreadsheet.worksheet(worksheet)
            except WorksheetNotFound:
                sheet = spreadsheet.add_worksheet(worksheet, rows=max(len(rows), 1), cols=max(width, 1))
            sheet_id = sheet.id
            spreadsheet.batch_update(
                {
                    "requests": [
                        {
                            "updateSheetProperties": {
                                "properties": {
                                    "sheetId": sheet_id,
                                    "gridProperties": {
                                        "rowCount": max(len(rows), 1),
                                        "columnCount": max(width, 1),
                                    },
                                },
                                "fields": "gridProperties.rowCount,gridProperties.columnCount",
                            }
                        },
                        {"updateCells": {"range": {"sheetId": sheet_id}, "fields": "userEnteredValue"}},
                        {
                            "updateCells": {
                                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                                "rows": [{"values": [_cell(value) for value in row]} for row in rows],
                                "fields": "userEnteredValue",
                            }
                        },
                    ]
                }
            )

        _provider_call(replace)


def _cell(value: Cell) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float | Decimal):
        return {"userEnteredValue": {"numberValue": float(value)}}
    if isinstance(value, date):  # datetime included
        return {"userEnteredValue": {"stringValue": value.isoformat()}}
    return {"userEnteredValue": {"stringValue": value}}


def _provider_call(call: Callable[[], T]) -> T:
    """`call()`, with gspread's, requests' and google-auth's failures turned into ServiceError."""
    try:
        return call()
    except APIError as error:
        raise _from_status(error.response) from None
    # gspread's open_by_key turns a 404 and a 403 into these, without the answer.
    except SpreadsheetNotFound:
        raise ServiceError("sheets.not_found", "No such spreadsheet.", status=404) from None
    except PermissionError:
        raise _forbidden() from None
    except requests.Timeout:
        raise ServiceError(
            "sheets.timeout", "Google Sheets did not answer in time.", status=504, temporary=True
        ) from None
    except (requests.ConnectionError, TransportError):
        raise ServiceError(
            "sheets.unreachable", "Google Sheets could not be reached.", temporary=True
        ) from None
    except RefreshError as error:
        raise ServiceError(
            "sheets.auth_failed",
            "Google refused the service account's credentials.",
            temporary=bool(getattr(error, "retryable", False)),
        ) from None


def _from_status(response: requests.Response) -> ServiceError:
    status = response.status_code
    if status == 429:
        return ServiceError(
            "sheets.rate_limited",
            "Google Sheets asked us to slow down.",
            status=503,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            temporary=True,
        )
    if status >= 500:
        return ServiceError("sheets.unavailable", f"Google Sheets failed ({status}).", temporary=True)
    if status == 404:
        return ServiceError("sheets.not_found", "No such spreadsheet or worksheet.", status=404)
    if status in (401, 403):
        return _forbidden()
    return ServiceError("sheets.rejected", f"Google Sheets refused the request ({status}).")


def _forbidden() -> ServiceError:
    return ServiceError("sheets.forbidden", "The service account may not use this spreadsheet.")
