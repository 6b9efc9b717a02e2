"""The transaction status ReadyForQuery reports, kept although RusTs has no transactions.

Clients read the status byte: psycopg refuses to run a statement while it thinks a block failed,
pg8000 and SQLAlchemy issue ROLLBACK after an error. So BEGIN, COMMIT, ROLLBACK, SAVEPOINT,
RELEASE and ROLLBACK TO move the status exactly as PostgreSQL would, while every statement takes
effect when it runs (ROLLBACK undoes nothing; README says so).
"""

from typing import Final, NamedTuple

from rusts.pgwire.errors import ABORTED, PgError

IDLE: Final = b"I"
IN_BLOCK: Final = b"T"
FAILED: Final = b"E"


class Transition(NamedTuple):
    """A transaction command's CommandComplete tag, and the warning PostgreSQL gives with it, if any."""

    tag: str
    warning: tuple[str, str] | None = None  # (SQLSTATE, message)


class TransactionState:
    def __init__(self) -> None:
        self.status = IDLE

    def check_usable(self) -> None:
        """A statement other than transaction control may run (25P02 in a failed block)."""
        if self.status == FAILED:
            raise PgError("25P02", ABORTED)

    def failed(self) -> None:
        """An error happened: a block, if one is open, is now failed."""
        if self.status == IN_BLOCK:
            self.status = FAILED

    def apply(self, command: str) -> Transition:
        """Carry out a command from rusts.pgwire.statements.transaction_command."""
        if command in ("begin", "start transaction"):
            tag = "BEGIN" if command == "begin" else "START TRANSACTION"
            if self.status != IDLE:
                return Transition(tag, ("25001", "there is already a transaction in progress"))
            self.status = IN_BLOCK
            return Transition(tag)
        if command in ("commit", "end", "rollback", "abort"):
            was = self.status
            self.status = IDLE
            tag = "ROLLBACK" if command in ("rollback", "abort") or was == FAILED else "COMMIT"
            return Transition(tag, ("25P01", "there is no transaction in progress") if was == IDLE else None)
        if command == "rollback to":
            if self.status == IDLE:
                raise PgError("25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks")
            self.status = IN_BLOCK
            return Transition("ROLLBACK")
        if command in ("savepoint", "release"):
            if self.status == IDLE:
                raise PgError("25P01", f"{command.upper()} can only be used in transaction blocks")
            self.check_usable()
            return Transition(command.upper())
        raise PgError("0A000", f"{command.upper()} is not supported: RusTs has no two-phase commit")
