"""Codec plans: the chunks of one column in a segment reuse the codec its last trial chose.

Choosing a block's codec means encoding it several ways (three transform orders under Zstd,
decimal scales, varint sizes, factored forms) and keeping the smallest; that trial costs
several times the encoding itself, and the chunks of one column in one segment (the same
field of neighbouring series and blocks) nearly always pick the same codec. So a writer
keeps one ChunkPlans per segment: after a trial it records the winner's recipe (codec id and
parameters, read back from the block's own header), and the next chunks of that column are
encoded with that recipe alone. The column is tried afresh

- after RETRIAL replays, so a change in the data is noticed within a few chunks;
- when a replay comes out more than WORSE times the bytes per value of the trial, and more than
  SLACK bytes over that: a column of mostly zeros (a fee, a flag) packs a few hundred values into
  tens of bytes, and a few bytes more are no sign of changed data (on the trips data, trials the
  ratio alone asked for won 2.7% of those chunks' bytes, 0.02% of the segment, at ~6x a replay);
- when the recipe cannot encode the chunk (a decimal scale with too many exceptions, a
  factor that no longer divides the values).

Every replayed block is made by the same encoders as a trial's, so it decodes the same way;
only the choice among valid blocks is cached. Interpreted: a few dict look-ups per chunk.
"""

from typing import Any, Final

import numpy as np

from rusts.compression import block, boolean, dictionary, gorilla, numeric, relative, timestamp, varint

RETRIAL: Final = 32
WORSE: Final = 1.25
SLACK: Final = 64

# Kinds whose chooser tries more than one codec (strings and booleans have one each).
PLANNED_KINDS: Final = frozenset({"timestamp", "float", "integer", "unsigned"})


class Recipe:
    """How a block was made: its codec id and the parameters its header records."""

    __slots__ = ("codec_id", "first", "second", "wrapper", "inner")

    def __init__(self, codec_id: int, first: int = -1, second: int = -1, wrapper: int = 0) -> None:
        self.codec_id = codec_id
        self.first = first  # varint mode, decimal scale, integer order or factored mode
        self.second = second  # decimal order
        self.wrapper = wrapper  # block.LZ4_ID or block.ZSTD_ID around the block, else 0
        self.inner: Recipe | None = None  # a factored block's inner block


class _Plan:
    __slots__ = ("kind_name", "recipe", "uses", "bytes_per_value")

    def __init__(self, kind_name: str, recipe: Recipe, bytes_per_value: float) -> None:
        self.kind_name = kind_name  # a column name can carry another kind in another series
        self.recipe = recipe
        self.uses = 0
        self.bytes_per_value = bytes_per_value


class ChunkPlans:
    """One segment writer's recipes, by column (one writer thread; not shared)."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan] = {}

    def replay(self, key: str, kind_name: str, values: Any, times: Any, zstd_level: int) -> bytes | None:
        """The chunk encoded with `key`'s recipe, or None when a trial is due."""
        plan = self._plans.get(key)
        if plan is None or kind_name not in PLANNED_KINDS:
            return None
        if plan.uses >= RETRIAL or plan.kind_name != kind_name:
            del self._plans[key]
            return None
        chunk = _wrapped(plan.recipe, values, times, zstd_level)
        if chunk is None or len(chunk) > plan.bytes_per_value * WORSE * len(values) + SLACK:
            del self._plans[key]
            return None
        plan.uses += 1
        return chunk

    def learn(self, key: str, kind_name: str, chunk: bytes, count: int) -> None:
        """Record the codec a trial chose for `key`'s chunk of `count` values."""
        if kind_name in PLANNED_KINDS and count > 0:
            recipe = recipe_of(chunk)
            if recipe is not None:
                self._plans[key] = _Plan(kind_name, recipe, len(chunk) / count)


def recipe_of(chunk: bytes) -> Recipe | None:
    """The recipe of an encoded block, read from its header (None for an unknown layout)."""
    if len(chunk) < 2:
        return None
    codec_id = chunk[0]
    if codec_id in (block.LZ4_ID, block.ZSTD_ID):
        inner = block.unwrap_lz4(chunk) if codec_id == block.LZ4_ID else block.unwrap_zstd(chunk)
        recipe = recipe_of(inner)
        if recipe is not None:
            recipe.wrapper = codec_id
        return recipe
    if codec_id in (timestamp.CODEC_ID, gorilla.CODEC_ID, numeric.XOR_FLOAT_ID):
        return Recipe(codec_id)
    if codec_id in (varint.SIGNED_ID, varint.UNSIGNED_ID):
        return Recipe(codec_id, chunk[1])
    if codec_id == numeric.INTEGER_ID and len(chunk) > 2:
        return Recipe(codec_id, chunk[2])
    if codec_id == numeric.DECIMAL_FLOAT_ID and len(chunk) > 2:
        return Recipe(codec_id, chunk[1], chunk[2])
    if codec_id == relative.CODEC_ID:
        mode, _, inner = relative.unpack(chunk)
        inner_recipe = recipe_of(inner)
        if inner_recipe is None:
            return None
        recipe = Recipe(codec_id, mode)
        recipe.inner = inner_recipe
        return recipe
    return None


def _wrapped(recipe: Recipe, values: Any, times: Any, zstd_level: int) -> bytes | None:
    bare = _bare(recipe, values, times, zstd_level)
    if bare is None or recipe.wrapper == 0:
        return bare
    wrapped = block.wrap_lz4(bare) if recipe.wrapper == block.LZ4_ID else block.wrap_zstd(bare, zstd_level)
    return wrapped if len(wrapped) < len(bare) else bare


def _bare(recipe: Recipe, values: Any, times: Any, zstd_level: int) -> bytes | None:
    codec_id = recipe.codec_id
    if codec_id == numeric.INTEGER_ID:
        return numeric.encode_integers(values, recipe.first)
    if codec_id == numeric.DECIMAL_FLOAT_ID:
        return numeric.encode_decimal_floats(values, recipe.first, recipe.second)
    if codec_id == numeric.XOR_FLOAT_ID:
        return numeric.encode_xor_floats(values)
    if codec_id == timestamp.CODEC_ID:
        return timestamp.encode(values)
    if codec_id == gorilla.CODEC_ID:
        return gorilla.encode(values)
    if codec_id == varint.SIGNED_ID and values.dtype == np.int64:
        return varint.encode_signed(values, recipe.first)
    if codec_id == varint.UNSIGNED_ID and values.dtype == np.uint64:
        return varint.encode_unsigned(values, recipe.first)
    if codec_id == relative.CODEC_ID and recipe.inner is not None and values.dtype == np.int64:
        return _factored(recipe, recipe.inner, values, times, zstd_level)
    if codec_id == dictionary.CODEC_ID:
        return dictionary.encode(values)
    if codec_id == boolean.CODEC_ID:
        return boolean.encode(values)
    return None


def _factored(recipe: Recipe, inner: Recipe, values: Any, times: Any, zstd_level: int) -> bytes | None:
    reference = times if recipe.first == relative.MODE_REFERENCE else None
    if recipe.first == relative.MODE_REFERENCE and times is None:
        return None
    factor = relative.common_factor(values)
    stored = relative.quotients(values, factor, reference)
    if stored is None:
        return None
    encoded = _wrapped(inner, stored, None, zstd_level)
    if encoded is None or encoded[0] == relative.CODEC_ID:
        return None
    return relative.pack(recipe.first, factor, encoded)
