"""Codecs: each encodes one column block and is tagged with an id byte.

codec.encode_column / codec.decode_column are the entry points; codec.py lists the id
bytes and each codec module's docstring its byte layout. Bit-serial codecs (gorilla,
timestamp, varint, dictionary, boolean) are compiled by mypyc; numeric.py (numpy + Zstd)
and block.py (LZ4/Zstd wrappers) stay interpreted.
"""
