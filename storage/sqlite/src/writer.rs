//! The writer connection, on a thread of its own, committing the changes of concurrent
//! callers together ("group commit").
//!
//! With `synchronous = FULL` every SQLite commit costs an `fsync` of the WAL. Under load
//! (many small uploads at once) those syncs, not the SQL, bound the request rate, so the
//! thread takes every change that is waiting, runs each in a savepoint of one transaction,
//! and commits them with one sync. A change that fails rolls back its savepoint only; the
//! others still commit. Nobody hears back before the commit that holds their change is
//! done, so an answer still means "durable" exactly as before.
//!
//! On a shared directory the thread also renews the [`CommitStamp`] after each commit and
//! before anyone hears back, so that the other storages' caches drop what it changed.

use crate::cache::CommitStamp;
use crate::db::db_err;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use tus_core::StorageError;

/// At most this many changes share one commit, so that one commit never grows without bound.
const MAX_BATCH: usize = 256;

/// A change waiting for the writer thread.
pub(crate) trait Job: Send {
    /// Runs the change inside the open transaction; what it returns is answered after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer>;
    /// Answers without running: the transaction could not even begin.
    fn refuse(self: Box<Self>, why: &rusqlite::Error);
}

/// A change's outcome, held back until its transaction is committed (or not).
pub(crate) trait Answer: Send {
    /// Answers the change's caller, now that its transaction committed or failed.
    fn send(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
}

struct Change<T, F> {
    work: F,
    reply: SyncSender<Result<T, StorageError>>,
}

struct Outcome<T> {
    result: Result<T, StorageError>,
    reply: SyncSender<Result<T, StorageError>>,
}

/// The error every change of a batch gets when the batch cannot commit. Each gets its own
/// value (errors do not clone), keeping "busy" recognisable as temporary.
pub(crate) fn batch_failed(why: &rusqlite::Error) -> StorageError {
    match why.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable(format!("the upload database is busy: {why}").into())
        }
        _ => StorageError::other(format!("cannot commit to the upload database: {why}")),
    }
}

impl<T, F> Job for Change<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let Change { work, reply } = *self;
        Box::new(Outcome { result: in_savepoint(conn, work), reply })
    }

    fn refuse(self: Box<Self>, why: &rusqlite::Error) {
        // A caller that went away does not need an answer.
        let _ = self.reply.send(Err(batch_failed(why)));
    }
}

/// Runs `work` in a savepoint of the open transaction, so that a change that fails (or
/// panics) rolls back alone while the others of its batch still commit.
pub(crate) fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    control(conn, "SAVEPOINT change").map_err(db_err)?;
    let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StorageError::other("a database change panicked")));
    let ended = if result.is_ok() {
        control(conn, "RELEASE change")
    } else {
        control(conn, "ROLLBACK TO change").and_then(|()| control(conn, "RELEASE change"))
    };
    match ended {
        Ok(()) => result,
        // The savepoint cannot end: the transaction is unusable, and its commit fails too.
        Err(e) => Err(db_err(e)),
    }
}

impl<T: Send + 'static> Answer for Outcome<T> {
    fn send(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let result = match (self.result, commit) {
            (Ok(_), Err(why)) => Err(batch_failed(why)),
            // A change that failed was rolled back already; its own error says more.
            (result, _) => result,
        };
        let _ = self.reply.send(result);
    }
}

/// The one writer connection of a storage, behind a thread that group-commits.
pub(crate) struct GroupWriter {
    jobs: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").finish_non_exhaustive()
    }
}

impl GroupWriter {
    /// Moves `conn` onto a new writer thread, which renews `stamp` (if any) after each commit.
    pub(crate) fn spawn(conn: Connection, stamp: Option<CommitStamp>) -> Result<Self, StorageError> {
        let (jobs, queue) = channel();
        let thread = std::thread::Builder::new()
            .name("tus-sqlite-writer".into())
            .spawn(move || serve(&conn, &queue, stamp.as_ref()))
            .map_err(StorageError::Io)?;
        Ok(Self { jobs: Mutex::new(Some(jobs)), thread: Some(thread) })
    }

    /// Runs `work` on the writer connection inside a transaction and waits until it is
    /// committed. Blocks: call it from a blocking context.
    pub(crate) fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = sync_channel(1);
        if !self.submit(Box::new(Change { work, reply })) {
            return Err(StorageError::other("the upload database writer has stopped"));
        }
        answer.recv().unwrap_or_else(|_| Err(StorageError::other("the upload database writer stopped mid-change")))
    }

    /// Queues `job` for the writer thread, which answers it after its commit; `false` (the
    /// job dropped unanswered) when the thread has stopped.
    pub(crate) fn submit(&self, job: Box<dyn Job>) -> bool {
        match &*self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        }
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the changes already sent; joining it
        // closes the connection before the storage is gone (a reopen sees a clean WAL).
        self.jobs.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the upload database writer thread panicked");
        }
    }
}

/// Runs a transaction statement through the statement cache: parsing `SAVEPOINT`,
/// `RELEASE`, `BEGIN` and `COMMIT` for every change cost more than running them.
fn control(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// The writer thread: waits for a change, takes every other one that is waiting, and
/// commits them together.
fn serve(conn: &Connection, queue: &Receiver<Box<dyn Job>>, stamp: Option<&CommitStamp>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // IMMEDIATE: take the write lock now (waiting out other processes up to the busy
        // timeout) rather than fail half-way through the batch.
        if let Err(why) = control(conn, "BEGIN IMMEDIATE") {
            for job in batch {
                job.refuse(&why);
            }
            continue;
        }
        let answers: Vec<_> = batch.into_iter().map(|job| job.run(conn)).collect();
        let committed = control(conn, "COMMIT");
        if committed.is_err() {
            let _ = control(conn, "ROLLBACK");
        }
        // Also after a failed commit: renewing needlessly costs a cache miss, not a stale HEAD.
        if let Some(stamp) = stamp
            && let Err(error) = stamp.renew()
        {
            tracing::error!(%error, "cannot renew the commit stamp in uploads.lock: other processes may report stale offsets for up to a second");
        }
        for answer in answers {
            answer.send(committed.as_ref().map(|_| ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn writer(dir: &std::path::Path) -> GroupWriter {
        let conn = Connection::open(dir.join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)").unwrap();
        GroupWriter::spawn(conn, None).unwrap()
    }

    fn count(dir: &std::path::Path) -> i64 {
        Connection::open(dir.join("t.db")).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn concurrent_changes_all_commit_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(writer(dir.path()));
        let start = Arc::new(Barrier::new(32));
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let (writer, start) = (Arc::clone(&writer), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    writer.run(move |conn| {
                        conn.execute("INSERT INTO t (v) VALUES (?1)", [i]).map_err(db_err)?;
                        // Every fourth change inserts, then fails: its row must not stay.
                        if i % 4 == 0 { Err(StorageError::other("refused")) } else { Ok(i) }
                    })
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), i % 4 != 0, "change {i}: {result:?}");
        }
        drop(writer);
        assert_eq!(count(dir.path()), 24);
    }

    #[test]
    fn a_panicking_change_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path());
        let panicked = writer.run(|_| -> Result<(), StorageError> { panic!("boom") });
        assert!(panicked.is_err());
        writer.run(|conn| conn.execute("INSERT INTO t (v) VALUES (1)", []).map_err(db_err)).unwrap();
        drop(writer);
        assert_eq!(count(dir.path()), 1);
    }

    #[test]
    fn an_answer_comes_only_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path());
        writer.run(|conn| conn.execute("INSERT INTO t (v) VALUES (7)", []).map_err(db_err)).unwrap();
        // Another connection sees the row as soon as `run` returned, without closing the writer.
        assert_eq!(count(dir.path()), 1);
    }
}
