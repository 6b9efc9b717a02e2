"""Core model: series ids are stable, Structs validate and serve as wire formats."""

import msgspec
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from rusts.core.hashing import series_id, series_id_of_key, series_key, tags_of_key
from rusts.core.types import Field, FieldType, FieldValue, Point, Series, Tag, TimeRange


_KEY_TEXT = st.text(alphabet=st.sampled_from(list("ab=, \\xé\t")), min_size=1, max_size=6)


@settings(max_examples=500)
@given(_KEY_TEXT, st.dictionaries(_KEY_TEXT, _KEY_TEXT, max_size=4))
def test_a_series_key_gives_back_its_measurement_and_tags(measurement: str, tags: dict[str, str]) -> None:
    pairs = sorted(tags.items())
    assert tags_of_key(series_key(measurement, pairs)) == (measurement, pairs)


def test_a_text_that_is_not_a_series_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not a canonical series key"):
        tags_of_key("cpu,host")
    with pytest.raises(ValueError, match="not a canonical series key"):
        tags_of_key("cpu\\ x,host")


def test_series_key_is_canonical_and_escaped() -> None:
    assert series_key("cpu", [("host", "a"), ("region", "eu west")]) == "cpu,host=a,region=eu\\ west"
    assert series_key("my cpu,x", [("k=1", "v,2")]) == "my\\ cpu\\,x,k\\=1=v\\,2"
    assert Series.of("cpu", {"region": "eu", "host": "a"}).key == "cpu,host=a,region=eu"


def test_series_id_is_stable_across_versions() -> None:
    # BLAKE2b-64 of the canonical key, little-endian: these values must never change,
    # or stored data would lose its series after an upgrade.
    assert series_id_of_key("cpu") == 0xF8016D2EF91E758F
    assert series_id_of_key("cpu,host=a") == 0x7F2964902B51E607
    assert series_id("cpu", [("host", "a")]) == series_id_of_key("cpu,host=a")
    assert 0 <= series_id("cpu", []) < 2**64
    assert series_id("cpu", [("host", "a")]) != series_id("cpu", [("host", "b")])


def test_series_id_does_not_depend_on_tag_order() -> None:
    a = Series.of("cpu", [Tag("b", "2"), Tag("a", "1")])
    b = Series.of("cpu", {"a": "1", "b": "2"})
    assert a == b


def test_field_value_checks_its_type() -> None:
    assert FieldValue.unsigned(2**64 - 1).value == 2**64 - 1
    with pytest.raises(ValueError, match="out of range for an unsigned"):
        FieldValue.unsigned(-1)
    with pytest.raises(ValueError, match="out of range for a signed"):
        FieldValue.integer(2**63)
    with pytest.raises(ValueError, match="NaN and infinity"):
        FieldValue.float(float("nan"))
    with pytest.raises(ValueError, match="expected a boolean"):
        FieldValue(FieldType.BOOLEAN, 1)


def test_structs_round_trip_through_json_and_msgpack() -> None:
    point = Point(
        "cpu",
        (Tag("host", "a"),),
        (Field("v", FieldValue.float(1.5)), Field("n", FieldValue.integer(-3)), Field("s", FieldValue.string("x"))),
        1_700_000_000_000_000_000,
    )
    for encode, decode in ((msgspec.json.encode, msgspec.json.decode), (msgspec.msgpack.encode, msgspec.msgpack.decode)):
        assert decode(encode(point), type=Point) == point
    assert msgspec.json.decode(b'{"type": "unsigned", "value": 5}', type=FieldValue) == FieldValue.unsigned(5)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type": "integer", "value": 1.5}', type=FieldValue)


def test_point_is_frozen_and_needs_fields() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        Point("cpu", (), (), 0)
    point = Point("cpu", (), (Field("v", FieldValue.boolean(True)),), 0)
    with pytest.raises(AttributeError):
        point.timestamp = 5  # type: ignore[misc]


def test_time_range() -> None:
    window = TimeRange(10, 20)
    assert window.contains(10) and not window.contains(20)
    assert window.overlaps(TimeRange(19, 30)) and not window.overlaps(TimeRange(20, 30))
    with pytest.raises(ValueError, match="after its end"):
        TimeRange(5, 1)
