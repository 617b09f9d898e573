"""The ledger's tables are its own. import-linter's ``sealed-ledger`` contract keeps other
packages from importing ``app.ledger.tables``; SQL written as text escapes it, so this test
reads every string in ``app/`` outside the ledger for a statement over one of its tables.
Other packages compose ``app.ledger.queries`` and ``app.ledger.reporting`` instead."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import Table

import app
import app.ledger.tables as ledger_tables

APP = Path(app.__file__).parent
# The composition root gathers every table into one metadata; the ledger reads its own.
ALLOWED = (APP / "ledger", APP / "tables.py")
LEDGER_TABLES = sorted(t.name for t in vars(ledger_tables).values() if isinstance(t, Table))
# A table named where a statement reads or writes rows; a foreign key ("entries.id") is the
# schema's, not a read, and stays allowed.
STATEMENT = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+(" + "|".join(LEDGER_TABLES) + r")\b", re.IGNORECASE
)


def ledger_reads(source: str) -> list[str]:
    """The ledger tables the string literals of ``source`` run statements over."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [m.group(1) for m in STATEMENT.finditer(node.value)]
    return found


def test_the_detector_sees_raw_sql_over_ledger_tables() -> None:
    assert "entries" in LEDGER_TABLES and "lots" in LEDGER_TABLES and "accounts" in LEDGER_TABLES
    assert ledger_reads('Q = f"SELECT 1 FROM {x} e LEFT JOIN entries o ON o.id = e.id"') == [
        "entries"
    ]
    assert ledger_reads('Q = "select sum(remaining) from lots"') == ["lots"]
    assert ledger_reads('C = Column("entry_id", ForeignKey("entries.id"))') == []
    assert ledger_reads('Q = "SELECT 1 FROM lottery_entries"') == []


def test_no_package_outside_the_ledger_writes_sql_over_its_tables() -> None:
    offenders = {
        str(path.relative_to(APP.parent)): reads
        for path in sorted(APP.rglob("*.py"))
        if not any(path == a or a in path.parents for a in ALLOWED)
        if (reads := ledger_reads(path.read_text()))
    }
    assert offenders == {}
