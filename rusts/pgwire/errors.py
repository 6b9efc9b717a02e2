"""The error a pgwire statement reports to its client: a SQLSTATE and a message; the connection carries on."""


class PgError(Exception):
    def __init__(self, sqlstate: str, text: str) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


ABORTED = "current transaction is aborted, commands ignored until end of transaction block"
