"""API credentials: HS256 JSON Web Tokens, and where clients put them.

A token is `base64url(header) . base64url(claims) . base64url(signature)`
(RFC 7519, unpadded base64url), the header `{"alg":"HS256","typ":"JWT"}`,
the claims `{"sub": <name>, "iat": <unix s>, "exp": <unix s>}`, the signature
HMAC-SHA256 over the first two parts with `auth.jwt_secret`. Only HS256 is
accepted: a token naming another algorithm (notably "none") is refused.

Clients present a token as `Authorization: Bearer <jwt>`, as InfluxDB 2.x
clients do with `Authorization: Token <jwt>`, or as InfluxDB 1.x clients do
with the password: `?p=<jwt>` (`u` is ignored) or HTTP Basic auth.

Every refusal raises AuthError whose message says why (no token, malformed,
bad signature, expired).
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from rusts.core.errors import AuthError

ALGORITHM = "HS256"
_HEADER = msgspec.json.encode({"alg": ALGORITHM, "typ": "JWT"})


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Unpadded base64url; ValueError for anything else."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def _sign(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def issue_token(secret: str, subject: str, expires_in: int, now: int | None = None) -> str:
    """A token for `subject` valid for `expires_in` seconds from `now` (default: the clock)."""
    issued = int(time.time()) if now is None else now
    claims = msgspec.json.encode({"sub": subject, "iat": issued, "exp": issued + expires_in})
    signing_input = f"{_b64encode(_HEADER)}.{_b64encode(claims)}"
    return f"{signing_input}.{_b64encode(_sign(secret, signing_input.encode('ascii')))}"


def verify_token(secret: str, token: str, now: float | None = None) -> dict[str, Any]:
    """The claims of a valid token; AuthError naming the reason otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise AuthError("malformed token: expected three base64url parts separated by '.'")
    try:
        header = msgspec.json.decode(_b64decode(parts[0]))
        claims = msgspec.json.decode(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, msgspec.DecodeError):
        raise AuthError("malformed token: a part is not base64url-encoded JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed token: header and claims must be JSON objects")
    if header.get("alg") != ALGORITHM:
        raise AuthError(f"unsupported token algorithm {header.get('alg')!r}: only {ALGORITHM} is accepted")
    expected = _sign(secret, f"{parts[0]}.{parts[1]}".encode("ascii"))
    if not hmac.compare_digest(signature, expected):
        raise AuthError("bad token signature")
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        raise AuthError("malformed token: no numeric 'exp' claim")
    if (time.time() if now is None else now) >= expires:
        raise AuthError("token expired")
    return claims


def token_from_request(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The token a request carries (header first, then the `p` parameter); AuthError when none."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if scheme in ("bearer", "token") and credentials:
            return credentials
        if scheme == "basic" and credentials:
            return _basic_password(credentials)
        raise AuthError("unsupported Authorization header: expected 'Bearer <token>' or 'Token <token>'")
    password = query.get("p", "")
    if password:
        return password
    raise AuthError("missing token: send 'Authorization: Bearer <token>'")


def _basic_password(credentials: str) -> str:
    """The password of HTTP Basic credentials (InfluxDB 1.x clients put the token there)."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("malformed Basic credentials") from None
    password = decoded.partition(":")[2]
    if not password:
        raise AuthError("missing token: Basic credentials carry no password")
    return password
