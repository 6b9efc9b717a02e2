"""What Grafana's PostgreSQL data source sends once its macros are expanded: $__timeGroupAlias(time, 5m)
is `floor(extract(epoch from time)/300)*300 AS "time"`, $__timeEpoch(time) is `extract(epoch from time)`,
$__timeFilter(time) is `time BETWEEN '...' AND '...'`. Answers are checked against the JSON query model."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rusts.api.line_protocol import engine_parser
from rusts.query.executor import execute
from rusts.query.model import Query
from rusts.sql import describe_sql, execute_sql
from rusts.sql.errors import UnsupportedSqlError
from rusts.storage.engine import EngineOptions, StorageEngine

SECOND = 1_000_000_000
BASE = 1_700_000_000 * SECOND
FILTER = "time BETWEEN '2023-11-14T00:00:00Z' AND '2023-11-16T00:00:00Z'"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StorageEngine]:
    engine = StorageEngine.open(EngineOptions(str(tmp_path)), engine_parser)
    lines = [f"metrics,host=h{i % 3} value={i * 1.5} {BASE + i * 37 * SECOND + i}" for i in range(200)]
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
    yield engine
    engine.close()


def model(engine: StorageEngine, body: dict[str, Any]) -> list[list[Any]]:
    return execute(engine, msgspec.convert({"measurement": "metrics", **body}, Query)).rows


def test_time_group_alias_is_a_bucket_in_epoch_seconds(engine: StorageEngine) -> None:
    sql = f'SELECT floor(extract(epoch from time)/300)*300 AS "time", avg(value) AS "value" FROM metrics WHERE {FILTER} GROUP BY 1 ORDER BY 1'
    answer = execute_sql(engine, sql)
    assert [(c.name, c.type) for c in answer.columns] == [("time", "float"), ("value", "float")]
    expected = model(engine, {"aggregations": [{"function": "mean", "field": "value"}], "group_by": {"time": {"interval": 300 * SECOND}}})
    assert answer.rows == [[row[0] / 1e9, row[1]] for row in expected]
    assert describe_sql(engine, sql) == answer.columns


def test_time_group_with_a_metric_column(engine: StorageEngine) -> None:
    sql = f'SELECT floor(extract(epoch from time)/60)*60 AS "time", host AS metric, max(value) FROM metrics WHERE {FILTER} GROUP BY 1, 2 ORDER BY 1'
    answer = execute_sql(engine, sql)
    expected = model(engine, {"aggregations": [{"function": "max", "field": "value"}],
                              "group_by": {"tags": ["host"], "time": {"interval": 60 * SECOND}}})
    assert sorted(answer.rows) == sorted([[row[0] / 1e9, row[1], row[2]] for row in expected])


def test_time_epoch_of_raw_rows(engine: StorageEngine) -> None:
    answer = execute_sql(engine, f'SELECT extract(epoch from time) AS "time", value FROM metrics WHERE {FILTER} ORDER BY 1 LIMIT 5')
    assert answer.rows == [[(BASE + i * 37 * SECOND + i) / 1e9, i * 1.5] for i in range(5)]
    assert execute_sql(engine, "SELECT extract(epoch from time), value FROM metrics LIMIT 1").columns[0].name == "extract"


def test_a_bucket_whose_factors_differ_is_refused(engine: StorageEngine) -> None:
    with pytest.raises(UnsupportedSqlError, match="same whole number of seconds"):
        execute_sql(engine, "SELECT floor(extract(epoch from time)/300)*60 FROM metrics GROUP BY 1")
