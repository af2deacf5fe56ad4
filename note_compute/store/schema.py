"""The store's SQLite schema, its running-total triggers and migrations.

Version history: 1 = entries, equivocations, meta; 2 = + ``usage`` table and
triggers (per-peer and whole-store totals); 3 = + ``entries.expires``; 4 = entry
kind 3 (``evidence``: merged fraud-proof sets), no table change, but older code
cannot read such entries, so it must refuse the store; 5 = entry kind 4
(``inbox``), likewise no table change; 6 = record keys moved to
``SHA-256(ADDR_RECORD || URL)`` (domain-separated store addresses): records
are re-keyed on open (and their equivocation proofs with them).
"""

from __future__ import annotations

import sqlite3

from .. import records
from ..errors import InvalidRecord

__all__ = ["SCHEMA", "SCHEMA_VERSION", "COLUMNS", "MAX_SQL_INT", "TOTAL", "setup"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key       BLOB PRIMARY KEY,
    kind      INTEGER NOT NULL,
    seq       BLOB,
    hash      BLOB NOT NULL,
    data      BLOB NOT NULL,
    size      INTEGER NOT NULL,
    owner     BLOB,
    stored_at INTEGER NOT NULL,
    expires   INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_owner ON entries(owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS equivocations (
    key   BLOB NOT NULL,
    hash  BLOB NOT NULL,
    proof BLOB NOT NULL,
    PRIMARY KEY (key, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB);
-- Running totals, kept by triggers: one row per owning peer (32-byte id) and
-- one row for the whole store (owner = x'ff'), so quota checks never scan.
CREATE TABLE IF NOT EXISTS usage (
    owner   BLOB PRIMARY KEY,
    bytes   INTEGER NOT NULL,
    entries INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS usage_insert AFTER INSERT ON entries BEGIN
    INSERT INTO usage SELECT x'ff', NEW.size, 1 WHERE 1
        ON CONFLICT(owner) DO UPDATE SET bytes = bytes + NEW.size, entries = entries + 1;
    INSERT INTO usage SELECT NEW.owner, NEW.size, 1 WHERE NEW.owner IS NOT NULL
        ON CONFLICT(owner) DO UPDATE SET bytes = bytes + NEW.size, entries = entries + 1;
END;
CREATE TRIGGER IF NOT EXISTS usage_delete AFTER DELETE ON entries BEGIN
    UPDATE usage SET bytes = bytes - OLD.size, entries = entries - 1 WHERE owner = x'ff';
    UPDATE usage SET bytes = bytes - OLD.size, entries = entries - 1 WHERE owner = OLD.owner;
END;
CREATE TRIGGER IF NOT EXISTS usage_update AFTER UPDATE OF size, owner ON entries BEGIN
    UPDATE usage SET bytes = bytes - OLD.size + NEW.size WHERE owner = x'ff';
    UPDATE usage SET bytes = bytes - OLD.size, entries = entries - 1 WHERE owner = OLD.owner;
    INSERT INTO usage SELECT NEW.owner, NEW.size, 1 WHERE NEW.owner IS NOT NULL
        ON CONFLICT(owner) DO UPDATE SET bytes = bytes + NEW.size, entries = entries + 1;
END;
"""
SCHEMA_VERSION = 6
MAX_SQL_INT = 2**63 - 1
COLUMNS = "key, kind, seq, hash, data, size, owner, stored_at, expires"
TOTAL = b"\xff"


def setup(db: sqlite3.Connection) -> None:
    """Open-time setup: WAL, tables, triggers, migration of older stores, indexes."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    row = db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
    version = None if row is None else row[0]
    if version not in (None, 1, 2, 3, 4, 5, SCHEMA_VERSION):
        raise InvalidRecord(f"store schema {version} is not {SCHEMA_VERSION}", reason="schema-version")
    if version != SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            _migrate(db, version)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    db.execute("CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires) WHERE expires IS NOT NULL")


def _migrate(db: sqlite3.Connection, version: int | None) -> None:
    """Bring a new or older store to the current schema (inside a transaction)."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(entries)")}
    if "expires" not in columns:  # version 1 and 2: no expiry column yet
        db.execute("ALTER TABLE entries ADD COLUMN expires INTEGER")
        rows = db.execute("SELECT key, data FROM entries WHERE kind = 1").fetchall()
        for key, data in rows:
            exp = records.Record.decode(data).expires
            if exp is not None:
                db.execute("UPDATE entries SET expires=? WHERE key=?", (min(exp, MAX_SQL_INT), key))
    if version in (None, 1):  # new, or from before the usage table: (re)build the totals
        db.execute("DELETE FROM usage")
        db.execute("INSERT INTO usage SELECT x'ff', COALESCE(SUM(size), 0), COUNT(*) FROM entries")
        db.execute(
            "INSERT INTO usage SELECT owner, SUM(size), COUNT(*) FROM entries WHERE owner IS NOT NULL GROUP BY owner"
        )
    if version is not None and version < 6:  # records were at SHA-256(URL): move them to their domain
        for key, data in db.execute("SELECT key, data FROM entries WHERE kind = 1").fetchall():
            new = records.Record.decode(data).address
            db.execute("UPDATE entries SET key=? WHERE key=?", (new, key))
            db.execute("UPDATE equivocations SET key=? WHERE key=?", (new, key))
