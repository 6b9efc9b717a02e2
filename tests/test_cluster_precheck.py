"""The coordinator's reading of field kinds from a body's text agrees with the parser wherever it answers."""

import random

import pytest

from rusts.api.line_protocol import parse_body
from rusts.cluster.precheck import kind_of, scan_kinds

VALUES = [
    "1", "-1", "1.5", "-0.25", "1e3", "-1.5E-3", ".5", "5.", "7i", "-7i", "0i", "7u", "0u",
    "t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE", '"x"', '""', '"ab.cd"', '"7i"', '"true"',
]


@pytest.mark.parametrize("value", VALUES)
def test_kind_of_is_the_parsers_kind(value: str) -> None:
    parsed = parse_body(f"m v={value} 1".encode(), 1, 0)
    assert not parsed.errors, parsed.errors
    [batch] = list(parsed.series)
    assert kind_of(value) == batch.columns["v"].kind


def test_records_carry_lines_series_and_kinds() -> None:
    rng = random.Random(5)
    lines = []
    for i in range(200):
        values = {"a": f"{rng.random()}", "b": f"{rng.randint(-9, 9)}i", "c": rng.choice(['"x"', '"y"']), "d": rng.choice(["t", "false"])}
        fields = ",".join(f"{k}={v}" for k, v in values.items() if rng.random() < 0.8) or "a=1"
        lines.append(f"m{i % 3},host=h{i % 5},dc=d{i % 2} {fields}" + (f" {i}" if i % 4 else ""))
    lines.insert(50, "# a comment")
    lines.insert(80, "")
    body = "\n".join(lines).encode()
    records = scan_kinds(body)
    assert records is not None and len(records) == 200
    parsed = parse_body(body, 1, 0)
    assert not parsed.errors
    by_line = {int(line): batch for batch in parsed.series for line in batch.lines.tolist()}
    for record in records:
        batch = by_line[record.line]
        assert (record.measurement, record.tags, record.key) == (batch.measurement, list(batch.tags), batch.key)
        assert all(batch.columns[name].kind == kind for name, kind in record.fields)


@pytest.mark.parametrize(
    "body",
    [
        b"m,host=a\\ b v=1 1",  # an escape
        b"m v=1\t1",  # a tab
        b"m v=1  1",  # two spaces
        b' m v=1 1',  # a leading space
        b'm s="a b" 1',  # a space in a string
        b'm s="a,b" 1',  # a comma in a string
        b'm,t="q" v=1 1',  # a quote in the series section
        b"m v=1 12a",  # a timestamp that is not an integer
        b'm s="open\nline" 1',  # a string holding a newline
        b"m v=1 1\r\n",  # CRLF
        b"m v=1 \xff",  # not UTF-8
    ],
)
def test_anything_outside_the_simple_form_asks_for_the_parser(body: bytes) -> None:
    assert scan_kinds(body) is None
