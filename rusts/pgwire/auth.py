"""Password authentication of PostgreSQL connections: cleartext, MD5 and SCRAM-SHA-256 (RFC 5802, RFC 7677).

Users and passwords come from `postgres.users` in rusts.yml. The exchanges are pure functions of
the messages so that they can be tested without a socket; rusts.pgwire.connection drives them.
A failure never says whether the user exists (SQLSTATE 28P01 either way), as PostgreSQL does.
"""

import base64
import hashlib
import hmac
import os
from typing import Final

SCRAM_ITERATIONS: Final = 4096


class AuthFailed(Exception):
    """Password authentication failed (SQLSTATE 28P01) or the exchange was malformed (08P01)."""

    def __init__(self, text: str, sqlstate: str = "28P01") -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


def failed(user: str) -> AuthFailed:
    return AuthFailed(f'password authentication failed for user "{user}"')


def check_cleartext(users: dict[str, str], user: str, password: str) -> None:
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        raise failed(user)


def md5_salt() -> bytes:
    return os.urandom(4)


def check_md5(users: dict[str, str], user: str, salt: bytes, answer: str) -> None:
    """The client sends 'md5' + md5(md5(password + user) + salt) in hex."""
    expected = users.get(user)
    if expected is None:
        raise failed(user)
    inner = hashlib.md5((expected + user).encode()).hexdigest()
    wanted = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
    if not hmac.compare_digest(wanted.encode(), answer.encode()):
        raise failed(user)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _attributes(text: str, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthFailed(f"malformed SCRAM {what} message", "08P01")
        found[part[0]] = part[2:]
    return found


class ScramExchange:
    """The server side of one SCRAM-SHA-256 exchange.

    first(client-first-message) -> server-first-message; final(client-final-message) ->
    server-final-message, or AuthFailed. The user is the startup packet's, as in PostgreSQL (the
    SCRAM username attribute is ignored). An unknown user still gets a full exchange with a
    random salt and fails at the end, so the answer does not reveal who exists.
    """

    def __init__(self, users: dict[str, str], user: str) -> None:
        self.user = user
        password = users.get(user)
        self.known = password is not None
        self.salt = os.urandom(16)
        secret = (password if password is not None else os.urandom(16).hex()).encode("utf-8")
        salted = hashlib.pbkdf2_hmac("sha256", secret, self.salt, SCRAM_ITERATIONS)
        self.stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
        self.server_key = _hmac(salted, b"Server Key")
        self.gs2_header = ""
        self.client_first_bare = ""
        self.server_first = ""
        self.nonce = ""

    def first(self, message: bytes) -> bytes:
        text = message.decode("utf-8", "replace")
        parts = text.split(",", 2)
        if parts[0].startswith("p"):
            raise AuthFailed("SCRAM channel binding is not offered by this server", "08P01")
        if len(parts) != 3 or parts[0] not in ("n", "y"):
            raise AuthFailed("malformed SCRAM client-first message", "08P01")
        self.gs2_header = parts[0] + "," + parts[1] + ","
        self.client_first_bare = parts[2]
        client_nonce = _attributes(self.client_first_bare, "client-first").get("r", "")
        if not client_nonce:
            raise AuthFailed("SCRAM client-first message has no nonce", "08P01")
        self.nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        salt = base64.b64encode(self.salt).decode()
        self.server_first = f"r={self.nonce},s={salt},i={SCRAM_ITERATIONS}"
        return self.server_first.encode()

    def final(self, message: bytes) -> bytes:
        text = message.decode("utf-8", "replace")
        without_proof, _, proof_part = text.rpartition(",p=")
        if not without_proof:
            raise AuthFailed("malformed SCRAM client-final message", "08P01")
        attributes = _attributes(without_proof, "client-final")
        if attributes.get("r") != self.nonce:
            raise AuthFailed("SCRAM nonce does not match", "08P01")
        if attributes.get("c") != base64.b64encode(self.gs2_header.encode()).decode():
            raise AuthFailed("SCRAM channel binding does not match", "08P01")
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise AuthFailed("malformed SCRAM proof", "08P01") from None
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(self.stored_key, auth_message)
        if len(proof) != len(signature):
            raise failed(self.user)
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not self.known or not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.stored_key):
            raise failed(self.user)
        return ("v=" + base64.b64encode(_hmac(self.server_key, auth_message)).decode()).encode()
