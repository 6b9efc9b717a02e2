Buffer = bytes | bytearray | memoryview

class LZ4BlockError(Exception): ...

def compress(
    source: Buffer,
    mode: str = ...,
    store_size: bool = ...,
    acceleration: int = ...,
    compression: int = ...,
    return_bytearray: bool = ...,
) -> bytes: ...
def decompress(source: Buffer, uncompressed_size: int = ..., return_bytearray: bool = ...) -> bytes: ...
