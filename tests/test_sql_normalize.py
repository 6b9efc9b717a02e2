"""SQL forms clients generate, rewritten into ones the translator knows: literal casts (pgjdbc's simple
query mode), ANY/ALL over arrays (node-postgres array parameters). Answers are checked against the
same question asked plainly."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.sql import execute_sql
from rusts.sql.errors import InvalidTextError
from rusts.sql.normalize import _array_text
from rusts.storage.engine import EngineOptions, StorageEngine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StorageEngine]:
    engine = StorageEngine.open(EngineOptions(str(tmp_path)), engine_parser)
    lines = [f"trips,lic=HV000{i % 4},base=B{i % 3} miles={i * 0.5},t={i}i,wav={'true' if i % 2 else 'false'} {1_700_000_000 + i}000000000"
             for i in range(40)]
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
    yield engine
    engine.close()


@pytest.mark.parametrize(("generated", "plain"), [
    ("SELECT COUNT(*) FROM trips WHERE miles > '7.5'::double precision", "SELECT COUNT(*) FROM trips WHERE miles > 7.5"),
    ("SELECT COUNT(*) FROM trips WHERE t >= '12'::int8", "SELECT COUNT(*) FROM trips WHERE t >= 12"),
    ("SELECT COUNT(*) FROM trips WHERE wav = 'yes'::boolean", "SELECT COUNT(*) FROM trips WHERE wav = true"),
    ("SELECT COUNT(*) FROM trips WHERE lic = 'HV0001'::text", "SELECT COUNT(*) FROM trips WHERE lic = 'HV0001'"),
    ("SELECT COUNT(*) FROM trips WHERE lic = ANY(ARRAY['HV0001', 'HV0002'])", "SELECT COUNT(*) FROM trips WHERE lic IN ('HV0001', 'HV0002')"),
    ("SELECT COUNT(*) FROM trips WHERE lic = ANY('{HV0001,\"HV0003\"}')", "SELECT COUNT(*) FROM trips WHERE lic IN ('HV0001', 'HV0003')"),
    ("SELECT COUNT(*) FROM trips WHERE lic <> ALL('{HV0001}')", "SELECT COUNT(*) FROM trips WHERE lic NOT IN ('HV0001')"),
])
def test_generated_forms_answer_as_the_plain_ones(engine: StorageEngine, generated: str, plain: str) -> None:
    assert execute_sql(engine, generated).rows == execute_sql(engine, plain).rows


def test_insert_values_with_literal_casts(engine: StorageEngine) -> None:
    execute_sql(engine, "INSERT INTO trips (time, lic, base, miles, t) VALUES (1700000100000000000, 'HV0009', 'B9', '3.25'::float8, '5'::bigint)")
    assert execute_sql(engine, "SELECT miles, t FROM trips WHERE lic = 'HV0009'").rows == [[3.25, 5]]


def test_a_cast_of_text_that_is_no_number_is_22p02(engine: StorageEngine) -> None:
    with pytest.raises(InvalidTextError, match='bigint: "x"') as raised:
        execute_sql(engine, "SELECT COUNT(*) FROM trips WHERE t > 'x'::int8")
    assert raised.value.sqlstate == "22P02"


@pytest.mark.parametrize(("text", "items"), [
    ("{}", []), ("{a}", ["a"]), ("{a, b ,c}", ["a", "b", "c"]), ('{"a,b","c \\"d\\""}', ["a,b", 'c "d"']),
    ("{NULL}", None), ("{{a}}", None), ("a,b", None), ('{"open}', None),
])
def test_array_literal_text(text: str, items: list[str] | None) -> None:
    assert _array_text(text) == items
