"""Core types, errors, time and hashing: the layer everything else stands on."""
