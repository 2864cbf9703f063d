//! The SQLite side: connections, schema, and the queries on upload records.

use crate::Durability;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, TransactionBehavior, params};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tus_core::{Concat, Metadata, NewUpload, Removal, StorageError, UploadId, UploadInfo};

/// How long a connection waits for another writer (in this or another process) before
/// giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this code writes, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 4;

/// The `CREATE TABLE` of upload records under the name `$table` (the upgrade from version
/// 1 builds the new table beside the old one). Version 2 made it `WITHOUT ROWID` (a record
/// lives in one b-tree keyed by its ID, not in a table plus a primary-key index) and spelled
/// the `CHECK`s with `=`: SQLite evaluates an `IN` list of three by filling a temporary
/// b-tree, on every insert.
macro_rules! create_uploads {
    ($table:literal) => {
        concat!(
            "CREATE TABLE ",
            $table,
            r#" (
    id         TEXT PRIMARY KEY NOT NULL,
    "offset"   INTEGER NOT NULL CHECK ("offset" >= 0),
    length     INTEGER CHECK (length >= 0),
    metadata   TEXT NOT NULL,
    concat     TEXT CHECK (concat = 'partial' OR concat = 'final'),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    state      TEXT NOT NULL CHECK (state = 'active' OR state = 'terminated' OR state = 'expired'),
    bytes_id   INTEGER
) STRICT, WITHOUT ROWID;
"#
        )
    };
}

/// The index the expiry janitor walks (made after the table in every version).
const CREATE_EXPIRY_INDEX: &str =
    "CREATE INDEX uploads_expiry ON uploads (expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;";

/// A new database.
const SCHEMA: &str = concat!(
    create_uploads!("uploads"),
    r#"
CREATE TABLE concat_parts (
    final_id   TEXT NOT NULL REFERENCES uploads (id),
    position   INTEGER NOT NULL,
    partial_id TEXT NOT NULL,
    PRIMARY KEY (final_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX concat_parts_partial ON concat_parts (partial_id);
"#
);

/// The bytes of uploads kept in the database instead of a data file: small uploads that
/// arrived whole (see [`SqliteStorageBuilder::inline_limit`]). The record's `bytes_id`
/// names the row; it is NULL for an upload whose bytes are in a data file.
///
/// Version 3 keyed this table by upload ID. Version 4 keys it by an integer in insertion
/// order that the record holds: the bytes of a commit's uploads then fill the same last
/// pages of the table, and the random IDs no longer need an index of their own, whose
/// scattered pages each commit wrote to the WAL once per upload (a fifth of the WAL bytes
/// of a 16 KiB upload; the commits of small uploads wrote 8–12% more uploads per second
/// without it, measured on the writer's SQL alone).
///
/// [`SqliteStorageBuilder::inline_limit`]: crate::SqliteStorageBuilder::inline_limit
const CREATE_INLINE_BYTES: &str = r#"
CREATE TABLE inline_bytes (
    bytes_id INTEGER PRIMARY KEY,
    bytes    BLOB NOT NULL
) STRICT;
"#;

/// Version 2 had neither the table of bytes nor the column naming them.
const UPGRADE_FROM_V2: &str = "ALTER TABLE uploads ADD COLUMN bytes_id INTEGER;";

/// From version 3, whose table of bytes was keyed by upload ID: the rows move to the new
/// table under the numbers SQLite gave them, and each record names its row.
const UPGRADE_FROM_V3: &str = r#"
ALTER TABLE uploads ADD COLUMN bytes_id INTEGER;
ALTER TABLE inline_bytes RENAME TO inline_bytes_v3;
CREATE TABLE inline_bytes (
    bytes_id INTEGER PRIMARY KEY,
    bytes    BLOB NOT NULL
) STRICT;
INSERT INTO inline_bytes (bytes_id, bytes) SELECT rowid, bytes FROM inline_bytes_v3;
UPDATE uploads SET bytes_id = (SELECT rowid FROM inline_bytes_v3 WHERE inline_bytes_v3.id = uploads.id)
WHERE id IN (SELECT id FROM inline_bytes_v3);
DROP TABLE inline_bytes_v3;
"#;

/// From version 1 (a rowid table with `IN` checks; `concat_parts` is unchanged): SQLite's
/// way to change a table, a new one filled from the old, which is then dropped and
/// replaced. `concat_parts` names `uploads` in its reference, which after the rename is
/// the new table.
const UPGRADE_FROM_V1: &str = concat!(
    create_uploads!("uploads_v2"),
    r#"
INSERT INTO uploads_v2 (id, "offset", length, metadata, concat, created_at, expires_at, state)
SELECT id, "offset", length, metadata, concat, created_at, expires_at, state FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v2 RENAME TO uploads;
"#
);

/// The columns of an upload record, in the order [`record`] reads them (a macro so that
/// queries can be built with `concat!`, without a `format!` per query).
macro_rules! columns {
    () => {
        r#"id, "offset", length, metadata, concat, created_at, expires_at, state, bytes_id"#
    };
}

/// Maps a SQLite error: lock contention is temporary, anything else is a backend failure.
pub(crate) fn db_err(err: rusqlite::Error) -> StorageError {
    if is_busy(&err) { StorageError::Unavailable(Box::new(err)) } else { StorageError::Other(Box::new(err)) }
}

/// Whether `err` is lock contention with another connection.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Whether a record is live or a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Active,
    Terminated,
    Expired,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Terminated => "terminated",
            Self::Expired => "expired",
        }
    }
}

/// One row of `uploads`, with the parts of a final upload.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) info: UploadInfo,
    pub(crate) state: State,
    /// The row of `inline_bytes` holding the upload's bytes, when the database holds them
    /// (then there is no data file).
    pub(crate) bytes_id: Option<i64>,
}

impl Record {
    /// The upload, or the error a request on it gets when it is a tombstone.
    pub(crate) fn active(self) -> Result<UploadInfo, StorageError> {
        match self.state {
            State::Active => Ok(self.info),
            State::Terminated | State::Expired => Err(StorageError::Gone),
        }
    }
}

/// Unix milliseconds; times before 1970 become negative.
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The inverse of [`to_millis`].
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let span = Duration::from_millis(ms.unsigned_abs());
    let time = if ms >= 0 { UNIX_EPOCH.checked_add(span) } else { UNIX_EPOCH.checked_sub(span) };
    time.unwrap_or(UNIX_EPOCH)
}

/// A time as it reads back from the database.
pub(crate) fn stored_time(time: SystemTime) -> SystemTime {
    from_millis(to_millis(time))
}

/// A byte count as SQLite's signed 64-bit integer.
pub(crate) fn to_sql(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::other(format!("{value} bytes is more than this storage can record")))
}

fn from_sql(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::other(format!("corrupt upload record: negative size {value}")))
}

/// The busy handler: retries in short steps (50 µs doubling up to 1.6 ms) for up to
/// [`BUSY_TIMEOUT`]. Another writer (another `tus serve` on the same directory) holds the
/// lock for one short transaction; SQLite's own handler sleeps 1, 2, 5, 10, … ms between
/// tries, which made instances sharing a directory wait far longer than the lock was held.
fn wait_for_other_writer() -> impl FnMut(i32) -> bool + Send + 'static {
    let mut started = Instant::now();
    move |count| {
        if count == 0 {
            started = Instant::now();
        }
        if started.elapsed() >= BUSY_TIMEOUT {
            return false;
        }
        let doublings = u32::try_from(count.clamp(0, 5)).unwrap_or(5);
        std::thread::sleep(Duration::from_micros(50 << doublings));
        true
    }
}

/// The WAL size, in pages, at which a commit of the writer copies the WAL back into the
/// database file (SQLite's default is 1000, 4 MiB).
///
/// Each such checkpoint writes and syncs the database file, and the commit that runs it
/// waits for it. Under many small uploads kept in the database, checkpoints every 1000
/// pages took about a third of the writer's time: the bench's 16 KiB uploads went from
/// about 8000 to about 11000 per second with 4000 pages, and p99 from 14–22 to 26–39 ms
/// (one checkpoint). 16384 pages gained no more in the server and stalled commits for about
/// 100 ms (ADR 003). The WAL file stays at about this size (16 MiB) plus a commit.
const WAL_CHECKPOINT_PAGES: i64 = 4000;

/// Opens one connection with the settings every connection shares.
fn connect(path: &Path, durability: Durability) -> Result<Connection, StorageError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(db_err)?;
    conn.busy_handler(Some(wait_for_other_writer())).map_err(db_err)?;
    // FULL makes each commit durable on its own; NORMAL in WAL mode may lose the last
    // commits on power loss but never corrupts the database.
    let synchronous = match durability {
        Durability::Sync => "FULL",
        Durability::Buffered => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous).map_err(db_err)?;
    Ok(conn)
}

/// Opens the writer connection, switches the database to WAL and brings the schema up to date.
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, StorageError> {
    let mut conn = connect(path, durability)?;
    // Several processes opening one new directory at once: the switch to WAL may answer
    // "busy" without calling the busy handler (SQLite avoids a deadlock there), so retry.
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mode: String = loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => break other.map_err(db_err)?,
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::other(format!("SQLite refused WAL mode (journal_mode is {mode})")));
    }
    // Off for the migration (the bundled SQLite turns them on by default): replacing a
    // table that others reference needs them off, and the migration checks the references
    // itself. The pragma is a no-op inside a transaction, so it comes before.
    conn.pragma_update(None, "foreign_keys", false).map_err(db_err)?;
    migrate(&mut conn)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db_err)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES).map_err(db_err)?;
    Ok(conn)
}

/// Creates or upgrades the schema. `user_version` says which version a file has.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    // IMMEDIATE: two processes opening a fresh directory at once must not both create tables.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db_err)?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA).map_err(db_err)?;
            tx.execute_batch(CREATE_EXPIRY_INDEX).map_err(db_err)?;
        }
        1 => {
            tx.execute_batch(UPGRADE_FROM_V1).map_err(db_err)?;
            let dangling: i64 =
                tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| row.get(0)).map_err(db_err)?;
            if dangling > 0 {
                return Err(StorageError::other(format!(
                    "upgrading the upload database: {dangling} concatenation parts name no upload"
                )));
            }
            tx.execute_batch(CREATE_EXPIRY_INDEX).map_err(db_err)?;
        }
        2 => tx.execute_batch(UPGRADE_FROM_V2).map_err(db_err)?,
        3 => tx.execute_batch(UPGRADE_FROM_V3).map_err(db_err)?,
        SCHEMA_VERSION => return Ok(()),
        newer => {
            return Err(StorageError::other(format!(
                "the upload database has schema version {newer}; this tus-sqlite knows up to {SCHEMA_VERSION}"
            )));
        }
    }
    if version < 3 {
        tx.execute_batch(CREATE_INLINE_BYTES).map_err(db_err)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_err)?;
    tx.commit().map_err(db_err)
}

/// Opens a connection that only reads.
pub(crate) fn open_reader(path: &Path, durability: Durability) -> Result<Connection, StorageError> {
    let conn = connect(path, durability)?;
    conn.pragma_update(None, "query_only", true).map_err(db_err)?;
    Ok(conn)
}

/// A trivial query: the database file opens and answers.
pub(crate) fn ping(conn: &Connection) -> Result<(), StorageError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0)).map_err(db_err)?;
    Ok(())
}

/// How long a read that finds every pooled connection busy waits for one to come back
/// before it opens an extra connection of its own.
const READER_WAIT: Duration = Duration::from_millis(20);

/// Reader connections, reused. WAL lets them read while the writer writes.
///
/// At most `max_idle` connections are kept. A read that finds them all busy waits (briefly:
/// a read holds its connection for microseconds) rather than open another: under many
/// concurrent uploads, opening and closing connections (each parses the schema) cost more
/// than the reads. After [`READER_WAIT`] it opens an extra one, closed when it comes back,
/// so a read never waits long and a caller holding one connection can always get a second.
#[derive(Debug)]
pub(crate) struct ReaderPool {
    path: PathBuf,
    durability: Durability,
    idle: Mutex<Idle>,
    returned: Condvar,
    max_idle: usize,
}

#[derive(Debug, Default)]
struct Idle {
    conns: Vec<Connection>,
    /// Connections open now, idle or in use.
    open: usize,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf, durability: Durability, max_idle: usize) -> Self {
        Self {
            path,
            durability,
            idle: Mutex::new(Idle::default()),
            returned: Condvar::new(),
            max_idle: max_idle.max(1),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // Every update leaves the list and the count whole; a panic cannot break them.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle connection, a new one while fewer than `max_idle` are open, or else the
    /// first one to come back (an extra one after [`READER_WAIT`]).
    pub(crate) fn get(&self) -> Result<Reader<'_>, StorageError> {
        let deadline = Instant::now() + READER_WAIT;
        let mut idle = self.idle();
        loop {
            if let Some(conn) = idle.conns.pop() {
                return Ok(Reader { pool: self, conn: Some(conn) });
            }
            let now = Instant::now();
            if idle.open < self.max_idle || now >= deadline {
                idle.open += 1;
                drop(idle);
                return match open_reader(&self.path, self.durability) {
                    Ok(conn) => Ok(Reader { pool: self, conn: Some(conn) }),
                    Err(e) => {
                        self.idle().open -= 1;
                        Err(e)
                    }
                };
            }
            idle = match self.returned.wait_timeout(idle, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// A pooled reader connection; goes back to the pool when dropped.
pub(crate) struct Reader<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("reader used after release"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut idle = self.pool.idle();
        if idle.open > self.pool.max_idle {
            // An extra connection: close it (outside the lock).
            idle.open -= 1;
            drop(idle);
            drop(conn);
            return;
        }
        idle.conns.push(conn);
        drop(idle);
        self.pool.returned.notify_one();
    }
}

fn record(conn: &Connection, row: &Row<'_>) -> Result<Record, StorageError> {
    let text = |column| text_column(row, column);
    let required =
        |column| text_column(row, column)?.ok_or_else(|| StorageError::other("corrupt upload record: NULL text"));
    let id = UploadId::new(required(0)?).map_err(StorageError::other)?;
    let mut info = UploadInfo::new(id);
    info.offset = from_sql(row.get(1).map_err(db_err)?)?;
    info.length = row.get::<_, Option<i64>>(2).map_err(db_err)?.map(from_sql).transpose()?;
    info.metadata = Metadata::parse(required(3)?).map_err(StorageError::other)?;
    info.concat = match text(4)? {
        None => None,
        Some("partial") => Some(Concat::Partial),
        Some("final") => Some(Concat::Final(parts(conn, &info.id)?)),
        Some(other) => return Err(StorageError::other(format!("corrupt upload record: concat {other:?}"))),
    };
    info.created_at = from_millis(row.get(5).map_err(db_err)?);
    info.expires_at = row.get::<_, Option<i64>>(6).map_err(db_err)?.map(from_millis);
    let state = match required(7)? {
        "active" => State::Active,
        "terminated" => State::Terminated,
        "expired" => State::Expired,
        other => return Err(StorageError::other(format!("corrupt upload record: state {other:?}"))),
    };
    let bytes_id = row.get(8).map_err(db_err)?;
    Ok(Record { info, state, bytes_id })
}

/// A text column read in place, without copying it into a `String` first.
fn text_column<'row>(row: &'row Row<'_>, column: usize) -> Result<Option<&'row str>, StorageError> {
    row.get_ref(column).map_err(db_err)?.as_str_or_null().map_err(|e| db_err(e.into()))
}

/// The partial uploads of a final upload, in order.
fn parts(conn: &Connection, final_id: &UploadId) -> Result<Vec<UploadId>, StorageError> {
    let mut stmt = conn
        .prepare_cached("SELECT partial_id FROM concat_parts WHERE final_id = ?1 ORDER BY position")
        .map_err(db_err)?;
    let mut rows = stmt.query([final_id.as_str()]).map_err(db_err)?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        let id: String = row.get(0).map_err(db_err)?;
        ids.push(UploadId::new(&id).map_err(StorageError::other)?);
    }
    Ok(ids)
}

/// The record of `id`, tombstone or not.
pub(crate) fn load(conn: &Connection, id: &UploadId) -> Result<Option<Record>, StorageError> {
    let mut stmt =
        conn.prepare_cached(concat!("SELECT ", columns!(), " FROM uploads WHERE id = ?1")).map_err(db_err)?;
    let mut rows = stmt.query([id.as_str()]).map_err(db_err)?;
    match rows.next().map_err(db_err)? {
        Some(row) => record(conn, row).map(Some),
        None => Ok(None),
    }
}

/// The live upload `id`, or `NotFound` / `Gone`.
pub(crate) fn load_active(conn: &Connection, id: &UploadId) -> Result<UploadInfo, StorageError> {
    load_active_with_bytes_id(conn, id).map(|(info, _)| info)
}

/// [`load_active`], and the row of `inline_bytes` holding the upload's bytes, if any.
pub(crate) fn load_active_with_bytes_id(
    conn: &Connection,
    id: &UploadId,
) -> Result<(UploadInfo, Option<i64>), StorageError> {
    let record = load(conn, id)?.ok_or(StorageError::NotFound)?;
    let bytes_id = record.bytes_id;
    Ok((record.active()?, bytes_id))
}

/// Inserts a new record (and the parts of a final) at `offset` bytes. Returns the stored state.
pub(crate) fn insert(conn: &Connection, upload: &NewUpload, offset: u64) -> Result<UploadInfo, StorageError> {
    insert_record(conn, upload, offset, None)
}

/// Inserts a complete upload whose bytes the database keeps: the bytes, then the record
/// naming them. The caller runs this in a savepoint, so that neither stays without the other.
pub(crate) fn insert_with_bytes(
    conn: &Connection,
    upload: &NewUpload,
    bytes: &[u8],
) -> Result<UploadInfo, StorageError> {
    conn.prepare_cached("INSERT INTO inline_bytes (bytes) VALUES (?1)")
        .and_then(|mut stmt| stmt.execute([bytes]))
        .map_err(db_err)?;
    insert_record(conn, upload, bytes.len() as u64, Some(conn.last_insert_rowid()))
}

/// [`insert`], with the row of `inline_bytes` that holds the bytes, if any.
fn insert_record(
    conn: &Connection,
    upload: &NewUpload,
    offset: u64,
    bytes_id: Option<i64>,
) -> Result<UploadInfo, StorageError> {
    let mut info = UploadInfo::from_new(upload);
    info.offset = offset;
    // Hand back exactly what `info` will read later.
    info.created_at = stored_time(info.created_at);
    info.expires_at = info.expires_at.map(stored_time);
    let length = info.length.map(to_sql).transpose()?;
    let offset = to_sql(offset)?;
    let concat = match &info.concat {
        None => None,
        Some(Concat::Partial) => Some("partial"),
        Some(Concat::Final(_)) => Some("final"),
    };
    // With parts (a final upload) the writer runs this in a savepoint: the record and its
    // parts go in together or not at all.
    let inserted = conn
        .prepare_cached(concat!(
            "INSERT INTO uploads (",
            columns!(),
            ") VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6, 'active', ?8) ON CONFLICT (id) DO NOTHING"
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                info.id.as_str(),
                length,
                info.metadata.encode(),
                concat,
                to_millis(info.created_at),
                info.expires_at.map(to_millis),
                offset,
                bytes_id,
            ])
        })
        .map_err(db_err)?;
    if inserted == 0 {
        return Err(StorageError::AlreadyExists);
    }
    if let Some(Concat::Final(partials)) = &info.concat {
        let mut stmt = conn
            .prepare_cached("INSERT INTO concat_parts (final_id, position, partial_id) VALUES (?1, ?2, ?3)")
            .map_err(db_err)?;
        for (position, partial) in partials.iter().enumerate() {
            let position = i64::try_from(position).map_err(StorageError::other)?;
            stmt.execute(params![info.id.as_str(), position, partial.as_str()]).map_err(db_err)?;
        }
    }
    Ok(info)
}

/// Deletes a record that never got its data file, so that the ID is free again.
pub(crate) fn delete(conn: &Connection, id: &UploadId) -> Result<(), StorageError> {
    conn.execute("DELETE FROM concat_parts WHERE final_id = ?1", [id.as_str()]).map_err(db_err)?;
    conn.execute("DELETE FROM uploads WHERE id = ?1", [id.as_str()]).map_err(db_err)?;
    Ok(())
}

/// Why a conditional update of `id` changed no row.
fn why_unchanged(conn: &Connection, id: &UploadId) -> StorageError {
    match load(conn, id) {
        Ok(Some(record)) => match record.active() {
            Ok(info) => StorageError::OffsetMismatch { actual: info.offset },
            Err(gone) => gone,
        },
        Ok(None) => StorageError::NotFound,
        Err(e) => e,
    }
}

/// Compare-and-set of the offset: moves `id` from `old` to `new` only when it is still
/// live and at `old`, and slides the expiry when `expires_at` is given.
pub(crate) fn advance(
    conn: &Connection,
    id: &UploadId,
    old: u64,
    new: u64,
    expires_at: Option<SystemTime>,
) -> Result<UploadInfo, StorageError> {
    let (old, new) = (to_sql(old)?, to_sql(new)?);
    let changed = conn
        .prepare_cached(
            r#"UPDATE uploads SET "offset" = ?3, expires_at = coalesce(?4, expires_at)
               WHERE id = ?1 AND "offset" = ?2 AND state = 'active'"#,
        )
        .and_then(|mut stmt| stmt.execute(params![id.as_str(), old, new, expires_at.map(to_millis)]))
        .map_err(db_err)?;
    if changed == 0 {
        return Err(why_unchanged(conn, id));
    }
    load_active(conn, id)
}

/// Compare-and-set that marks a final upload complete at `total` bytes, only while it is
/// live and empty.
pub(crate) fn complete_final(conn: &Connection, id: &UploadId, total: u64) -> Result<UploadInfo, StorageError> {
    let total = to_sql(total)?;
    let changed = conn
        .prepare_cached(
            r#"UPDATE uploads SET "offset" = ?2, length = ?2 WHERE id = ?1 AND "offset" = 0 AND state = 'active'"#,
        )
        .and_then(|mut stmt| stmt.execute(params![id.as_str(), total]))
        .map_err(db_err)?;
    if changed == 0 {
        return Err(match why_unchanged(conn, id) {
            StorageError::OffsetMismatch { .. } => StorageError::AlreadyExists,
            other => other,
        });
    }
    load_active(conn, id)
}

/// Declares the length of a deferred-length upload.
pub(crate) fn set_length(conn: &Connection, id: &UploadId, length: u64) -> Result<UploadInfo, StorageError> {
    let length = to_sql(length)?;
    let changed = conn
        .prepare_cached("UPDATE uploads SET length = ?2 WHERE id = ?1 AND state = 'active' AND length IS NULL")
        .and_then(|mut stmt| stmt.execute(params![id.as_str(), length]))
        .map_err(db_err)?;
    if changed == 0 {
        let info = load_active(conn, id)?;
        if info.length.is_some() {
            return Err(StorageError::LengthAlreadySet);
        }
        return Err(StorageError::other("upload length did not change; retry"));
    }
    load_active(conn, id)
}

/// Turns a live record into a tombstone.
pub(crate) fn tombstone(conn: &Connection, id: &UploadId, why: Removal) -> Result<(), StorageError> {
    let state = match why {
        Removal::Expired => State::Expired,
        // `Removal` is non-exhaustive; whatever else comes is a termination.
        _ => State::Terminated,
    };
    // A removed upload's bytes go with it, as its data file does. Only a live upload's:
    // when the update below changes nothing, this deleted nothing either.
    conn.prepare_cached(
        "DELETE FROM inline_bytes WHERE bytes_id = (SELECT bytes_id FROM uploads WHERE id = ?1 AND state = 'active')",
    )
    .and_then(|mut stmt| stmt.execute([id.as_str()]))
    .map_err(db_err)?;
    let changed = conn
        .prepare_cached("UPDATE uploads SET state = ?2, bytes_id = NULL WHERE id = ?1 AND state = 'active'")
        .and_then(|mut stmt| stmt.execute(params![id.as_str(), state.as_str()]))
        .map_err(db_err)?;
    if changed == 0 {
        return Err(match load(conn, id)? {
            Some(_) => StorageError::Gone,
            None => StorageError::NotFound,
        });
    }
    Ok(())
}

/// The bytes a record's [`Record::bytes_id`] names.
pub(crate) fn held_bytes(conn: &Connection, bytes_id: i64) -> Result<Vec<u8>, StorageError> {
    conn.prepare_cached("SELECT bytes FROM inline_bytes WHERE bytes_id = ?1")
        .and_then(|mut stmt| stmt.query_row([bytes_id], |row| row.get(0)))
        .map_err(db_err)
}

/// The unfinished, live final uploads that name `partial`, each once.
pub(crate) fn finals_waiting_for(conn: &Connection, partial: &UploadId) -> Result<Vec<UploadId>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            r#"SELECT id FROM uploads
               WHERE id IN (SELECT final_id FROM concat_parts WHERE partial_id = ?1)
                 AND state = 'active' AND (length IS NULL OR "offset" < length)
               ORDER BY created_at, id"#,
        )
        .map_err(db_err)?;
    let mut rows = stmt.query([partial.as_str()]).map_err(db_err)?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        let id: String = row.get(0).map_err(db_err)?;
        ids.push(UploadId::new(&id).map_err(StorageError::other)?);
    }
    Ok(ids)
}

/// Up to `limit` live, unfinished uploads whose expiry is at or before `now`, soonest first.
pub(crate) fn expired(conn: &Connection, now: SystemTime, limit: usize) -> Result<Vec<UploadInfo>, StorageError> {
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            r#" FROM uploads
               WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= ?1
                 AND (length IS NULL OR "offset" < length)
               ORDER BY expires_at, id LIMIT ?2"#
        ))
        .map_err(db_err)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![to_millis(now), limit]).map_err(db_err)?;
    let mut infos = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        infos.push(record(conn, row)?.info);
    }
    Ok(infos)
}

/// `(id, offset)` of every live upload with a data file, for startup recovery.
pub(crate) fn active_offsets(conn: &Connection) -> Result<Vec<(String, u64)>, StorageError> {
    let mut stmt = conn
        .prepare(
            r#"SELECT id, "offset" FROM uploads
               WHERE state = 'active' AND bytes_id IS NULL"#,
        )
        .map_err(db_err)?;
    let mut rows = stmt.query([]).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push((row.get(0).map_err(db_err)?, from_sql(row.get(1).map_err(db_err)?)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_checkpoints_the_wal_at_its_own_size() {
        let dir = tempfile::tempdir().unwrap();
        let writer = open_writer(&dir.path().join("t.db"), Durability::Sync).unwrap();
        let pages: i64 = writer.pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0)).unwrap();
        assert_eq!(pages, WAL_CHECKPOINT_PAGES);
    }

    #[test]
    fn a_busy_pool_hands_over_a_returned_connection_and_opens_an_extra_one_only_after_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open_writer(&path, Durability::Buffered).unwrap());
        let pool = ReaderPool::new(path, Durability::Buffered, 2);
        let (first, second) = (pool.get().unwrap(), pool.get().unwrap());
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let started = Instant::now();
                let reader = pool.get().unwrap();
                ping(&reader).unwrap();
                started.elapsed()
            });
            std::thread::sleep(Duration::from_millis(5));
            drop(first);
            assert!(waiter.join().unwrap() < READER_WAIT, "a returned connection is handed over at once");
        });
        assert_eq!(pool.idle().open, 2, "no extra connection while one came back in time");

        let third = pool.get().unwrap();
        let started = Instant::now();
        let extra = pool.get().unwrap();
        assert!(started.elapsed() >= READER_WAIT, "an extra connection only after waiting");
        assert_eq!(pool.idle().open, 3);
        drop((second, third, extra));
        assert_eq!(pool.idle().open, 2, "the extra connection is closed when it comes back");
        assert_eq!(pool.idle().conns.len(), 2);
    }
}
