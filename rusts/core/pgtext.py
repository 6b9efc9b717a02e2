"""PostgreSQL's text output of float8 and timestamptz values, shared by the wire protocol and the SQL
functions that turn values into text (`::text`, `||`, concat)."""

import datetime
import math
from typing import Final

_UNIX_EPOCH: Final = datetime.datetime(1970, 1, 1)


def float_text(value: float) -> str:
    """float8out with extra_float_digits = 1: shortest exact digits, exponent form outside 1e-4..1e15."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits_repr = repr(abs(value))
    if "e" in digits_repr:
        lead, _, exp_part = digits_repr.partition("e")
        digits = lead.replace(".", "")
        exponent = int(exp_part)
    else:
        whole, _, frac = digits_repr.partition(".")
        frac = frac.rstrip("0")
        if whole != "0":
            digits = (whole + frac).lstrip("0")
            exponent = len(whole) - 1
        else:
            stripped = frac.lstrip("0")
            exponent = -(len(frac) - len(stripped)) - 1
            digits = stripped
    digits = digits.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 15:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return sign + digits + "0" * (exponent + 1 - len(digits))
    return f"{sign}{digits[:exponent + 1]}.{digits[exponent + 1:]}"


def timestamp_text(ns: int) -> str:
    """'YYYY-MM-DD HH:MM:SS[.ffffff]+00' as PostgreSQL prints a timestamptz in UTC."""
    us = ns // 1000
    moment = _UNIX_EPOCH + datetime.timedelta(microseconds=us)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.year < 1000:
        text = f"{moment.year:04d}" + text[text.index("-"):]
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "+00"
