"""Helpers for the auth end-to-end tests: sign up, log in, and read cookies."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.support.http import Reply, loopback_address, request

PASSWORD = "correct horse battery"
COOKIE_NAME = "blossom_session"
DEVICE_COOKIE_NAME = f"{COOKIE_NAME}_device"


def new_email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


def session_cookie(reply: Reply, name: str = COOKIE_NAME) -> str | None:
    """The token the reply's Set-Cookie of that name gives (the session's, by default), or None."""
    for header in reply.all("set-cookie"):
        cookie, _, rest = header.partition("=")
        if cookie == name:
            return rest.split(";", 1)[0] or None
    return None


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    token: str
    user: dict[str, Any]
    # The device cookie the sign-up gave this browser.
    device: str | None = None

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={self.token}"}

    @property
    def browser(self) -> dict[str, str]:
        """The cookies of the browser that signed up: the session's and the device's."""
        return {"Cookie": f"{COOKIE_NAME}={self.token}; {DEVICE_COOKIE_NAME}={self.device}"}


def signup(
    base_url: str, email: str | None = None, password: str = PASSWORD, name: str = "Tester"
) -> Account:
    email = email or new_email()
    # From an address of its own, as people sign up: the sign-ups per address stay far from
    # their limit however many accounts a test makes.
    reply = request(
        base_url,
        "POST",
        "/auth/signup",
        json_body={"email": email, "password": password, "display_name": name},
        source=loopback_address(),
    )
    assert reply.status == 201, reply.body
    token = session_cookie(reply)
    assert token
    return Account(email, password, token, reply.json()["user"], session_cookie(reply, DEVICE_COOKIE_NAME))


def post(
    base_url: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> Reply:
    return request(
        base_url, "POST", path, json_body={} if body is None else body, headers=headers, source=source
    )
