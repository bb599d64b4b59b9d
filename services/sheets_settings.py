"""Google Sheets' settings that every user of the client reads alike (services/sheets.py), read
without loading gspread and Google's libraries: the pipeline checks them before it loads anything
(pipeline/settings.py), and its definitions load without a service account."""

from __future__ import annotations

from blossom_db.settings import env_http_url, env_number

GOOGLE_SHEETS_URL = "https://sheets.googleapis.com"


def sheets_api_url() -> str:
    """BLOSSOM_SHEETS_API_URL, the Sheets API's base URL (a local fake's, in tests), without a
    trailing slash; Google's when it is unset."""
    return env_http_url("BLOSSOM_SHEETS_API_URL", GOOGLE_SHEETS_URL).rstrip("/")


def sheets_timeout() -> float:
    """BLOSSOM_SHEETS_TIMEOUT, the seconds a call to Google Sheets may take in all (30 when unset)."""
    return env_number("BLOSSOM_SHEETS_TIMEOUT", 30.0)
