"""Peers this node may owe a catch-up of its continuous-aggregate changes, kept across restarts.

A coordinator tells each peer whose aggregates read a measurement of every change it makes there
(rusts.cluster.node). A peer it could not tell is caught up from the ranges the coordinator
remembers in memory (the last RECENT_SECS) when it is reached again. Those ranges die with the
process, so a coordinator restarted before the peer returned would tell it nothing: the peer's
aggregates would keep stale buckets. This file lists such peers durably; after a restart a
listed peer is told to recompute everything its aggregates read, and leaves the list once a
catch-up reached it.

    <data_dir>/AGGREGATES_OWED   JSON {"version": 1, "peers": ["n1", ...]}

Written only when the list changes (a peer lost or caught up, not per write), by a temporary
file, fsync, rename and directory fsync, before the write that lost the peer is acknowledged.
"""

import json
import logging
import os
import threading

from rusts.core.errors import CorruptDataError
from rusts.storage.partition import replace_durably

FILE_NAME = "AGGREGATES_OWED"
VERSION = 1

_log = logging.getLogger("rusts.cluster")


class OwedPeers:
    """The durable set of peers owed an aggregate catch-up; `peers` are the cluster's other nodes."""

    def __init__(self, data_dir: str, peers: list[str]) -> None:
        self.directory = data_dir
        self.path = os.path.join(data_dir, FILE_NAME)
        self._lock = threading.Lock()
        self._peers = self._read(set(peers))

    def _read(self, everyone: set[str]) -> set[str]:
        try:
            with open(self.path, "rb") as handle:
                state = json.loads(handle.read())
        except FileNotFoundError:
            return set()
        except ValueError as exc:
            # Unreadable: owe everyone, which costs a recompute and never loses a change.
            _log.warning("%s is unreadable (%s): every peer is told to recompute its aggregates", self.path, exc)
            return everyone
        if not isinstance(state, dict) or state.get("version", 0) > VERSION or not isinstance(state.get("peers"), list):
            raise CorruptDataError(self.path, f"unknown format (this build reads version {VERSION})")
        return {str(peer) for peer in state["peers"]} & everyone

    def _write(self) -> None:
        replace_durably(self.path, json.dumps({"version": VERSION, "peers": sorted(self._peers)}).encode())

    def __contains__(self, peer: object) -> bool:
        with self._lock:
            return peer in self._peers

    def add(self, peer: str) -> None:
        with self._lock:
            if peer not in self._peers:
                self._peers.add(peer)
                self._write()

    def discard(self, peer: str) -> None:
        with self._lock:
            if peer in self._peers:
                self._peers.discard(peer)
                self._write()
