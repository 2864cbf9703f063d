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
//! With sync durability the thread also makes the directory entries of new data files
//! durable: one `fsync` of the data directory before a commit that records new files,
//! shared by all of them, instead of one per new upload.
//!
//! Callers that are syncing a data file announce the change they will queue right after
//! ([`GroupWriter::announce`]). While changes are announced, the thread holds its commit
//! back for them, up to [`MAX_LINGER`]: under concurrent uploads a commit and a directory
//! sync then serve many changes instead of a handful (the bench's 16 KiB uploads at
//! concurrency 64: 16–20 per commit instead of 5–7, and a quarter less CPU on this
//! thread), while a lone caller, whom nobody follows, is committed at once.
//!
//! On a shared directory the thread also renews the [`CommitStamp`] after each commit and
//! before anyone hears back, so that the other storages' caches drop what it changed.

use crate::cache::CommitStamp;
use crate::db::db_err;
use rusqlite::Connection;
use std::fs::File;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tus_core::StorageError;

/// At most this many changes share one commit, so that one commit never grows without bound.
const MAX_BATCH: usize = 256;

/// The longest the thread holds a commit back for announced changes, counted from the
/// first change of the batch: what a commit may add to a caller's wait for the others'
/// sake, about one `fdatasync` on an SSD.
const MAX_LINGER: Duration = Duration::from_millis(2);

/// A change waiting for the writer thread.
pub(crate) trait Job: Send {
    /// Whether the change records a data file created before it was queued, whose
    /// directory entry must be durable before the commit (with sync durability).
    fn records_new_file(&self) -> bool {
        false
    }
    /// Runs the change inside the open transaction; what it returns is answered after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer>;
    /// Answers without running: the batch failed before the change could run.
    fn refuse(self: Box<Self>, why: &BatchError);
}

/// A change's outcome, held back until its transaction is committed (or not).
pub(crate) trait Answer: Send {
    /// Answers the change's caller, now that its transaction committed or failed.
    fn send(self: Box<Self>, commit: Result<(), &BatchError>);
}

/// Why the changes of a batch were not committed.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// SQLite refused to begin or to commit the transaction.
    Database(rusqlite::Error),
    /// The data directory could not be synced: the new files of the batch might not survive
    /// a power loss, so their records must not be committed.
    DirSync(io::Error),
    /// The writer thread has stopped (the change was never queued).
    Stopped,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Database(e) => write!(f, "cannot commit to the upload database: {e}"),
            Self::DirSync(e) => write!(f, "cannot make the new data files durable (sync of their directory): {e}"),
            Self::Stopped => f.write_str("the upload database writer has stopped"),
        }
    }
}

struct Change<T, F> {
    work: F,
    new_file: bool,
    reply: SyncSender<Result<T, StorageError>>,
}

struct Outcome<T> {
    result: Result<T, StorageError>,
    reply: SyncSender<Result<T, StorageError>>,
}

/// The error every change of a batch gets when the batch cannot commit. Each gets its own
/// value (errors do not clone), keeping "busy" recognisable as temporary.
pub(crate) fn batch_failed(why: &BatchError) -> StorageError {
    match why {
        BatchError::Database(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            StorageError::Unavailable(format!("the upload database is busy: {e}").into())
        }
        BatchError::Database(_) | BatchError::Stopped => StorageError::other(why.to_string()),
        BatchError::DirSync(e) => StorageError::Io(io::Error::new(e.kind(), why.to_string())),
    }
}

impl<T, F> Job for Change<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
{
    fn records_new_file(&self) -> bool {
        self.new_file
    }

    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let Change { work, reply, .. } = *self;
        Box::new(Outcome { result: in_savepoint(conn, work), reply })
    }

    fn refuse(self: Box<Self>, why: &BatchError) {
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
    let result = in_one_statement(conn, work);
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

/// Runs `work`, a change of a single SQL statement, in the open transaction without a
/// savepoint: SQLite undoes a failing statement by itself, so a savepoint would only add
/// two statements and a copy of each page the change touches. A panic fails the change
/// (it is caught here, for [`in_savepoint`] too); `work` must not panic after its
/// statement ran, since nothing would undo that statement.
pub(crate) fn in_one_statement<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StorageError::other("a database change panicked")))
}

impl<T: Send + 'static> Answer for Outcome<T> {
    fn send(self: Box<Self>, commit: Result<(), &BatchError>) {
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
    /// Changes announced and not yet queued (or given up).
    coming: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// A change on its way to the writer thread ([`GroupWriter::announce`]). Queueing the
/// change through it ends the announcement; dropping it gives the change up.
#[must_use = "dropping it gives the announced change up"]
pub(crate) struct Coming<'w> {
    writer: &'w GroupWriter,
}

impl Coming<'_> {
    /// Queues the announced change ([`GroupWriter::submit`]).
    pub(crate) fn submit(self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        // Queued first, then no longer announced: the thread never commits without it.
        self.writer.submit(job)
    }

    /// Runs the announced change and waits for its commit ([`GroupWriter::run`]).
    pub(crate) fn run<T, F>(self, work: F, new_file: bool) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let writer = self.writer;
        let answer = writer.queue(work, new_file);
        // The commit waits for the announcements, this one included: it must end here.
        drop(self);
        wait(&answer)
    }
}

impl Drop for Coming<'_> {
    fn drop(&mut self) {
        // The last change the thread was waiting for is queued or given up: it need not
        // wait any longer. (Queued changes do not wake it; it only sleeps while changes
        // are announced, so that a batch costs it one wake-up, not one per change.)
        if self.writer.coming.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(thread) = &self.writer.thread
        {
            thread.thread().unpark();
        }
    }
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").finish_non_exhaustive()
    }
}

impl GroupWriter {
    /// Moves `conn` onto a new writer thread, which renews `stamp` (if any) after each
    /// commit, and syncs `data_dir` (if any: sync durability) before each commit that
    /// records new data files.
    pub(crate) fn spawn(
        conn: Connection,
        stamp: Option<CommitStamp>,
        data_dir: Option<File>,
    ) -> Result<Self, StorageError> {
        Self::spawn_lingering(conn, stamp, data_dir, MAX_LINGER)
    }

    /// [`GroupWriter::spawn`], holding commits back for announced changes up to `linger`.
    fn spawn_lingering(
        conn: Connection,
        stamp: Option<CommitStamp>,
        data_dir: Option<File>,
        linger: Duration,
    ) -> Result<Self, StorageError> {
        let (jobs, queue) = channel();
        let coming = Arc::new(AtomicUsize::new(0));
        let gathering = Gathering { queue, coming: Arc::clone(&coming), linger };
        let thread = std::thread::Builder::new()
            .name("tus-sqlite-writer".into())
            .spawn(move || serve(&conn, &gathering, stamp.as_ref(), data_dir.as_ref()))
            .map_err(StorageError::Io)?;
        Ok(Self { jobs: Mutex::new(Some(jobs)), coming, thread: Some(thread) })
    }

    /// Announces a change that the caller will queue, through the returned value, as soon
    /// as the bytes it is syncing are durable. Meanwhile the thread holds the commit of the
    /// changes it has back for this one (up to [`MAX_LINGER`]), so that they share it.
    /// Only for a wait of about one `fdatasync`: a change that may take longer to come
    /// holds every other caller back with it.
    pub(crate) fn announce(&self) -> Coming<'_> {
        self.coming.fetch_add(1, Ordering::AcqRel);
        Coming { writer: self }
    }

    /// Runs `work` on the writer connection inside a transaction and waits until it is
    /// committed. Blocks: call it from a blocking context. With `new_file`, the change
    /// records a data file created before this call, and the commit waits until the file's
    /// directory entry is durable too.
    pub(crate) fn run<T, F>(&self, work: F, new_file: bool) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        wait(&self.queue(work, new_file))
    }

    /// Queues `work` as a change; its result comes on the returned receiver after the commit.
    fn queue<T, F>(&self, work: F, new_file: bool) -> Receiver<Result<T, StorageError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = sync_channel(1);
        if let Err(job) = self.submit(Box::new(Change { work, new_file, reply })) {
            job.refuse(&BatchError::Stopped);
        }
        answer
    }

    /// Queues `job` for the writer thread, which answers it after its commit; hands it back
    /// when the thread has stopped.
    pub(crate) fn submit(&self, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
        match &*self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(jobs) => jobs.send(job).map_err(|refused| refused.0),
            None => Err(job),
        }
    }
}

/// Waits for the answer to a change queued by [`GroupWriter::queue`].
fn wait<T>(answer: &Receiver<Result<T, StorageError>>) -> Result<T, StorageError> {
    answer.recv().unwrap_or_else(|_| Err(StorageError::other("the upload database writer stopped mid-change")))
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

/// The writer thread's side of the queue.
struct Gathering {
    queue: Receiver<Box<dyn Job>>,
    /// Changes announced and not yet queued.
    coming: Arc<AtomicUsize>,
    /// How long a commit may be held back for them.
    linger: Duration,
}

impl Gathering {
    /// Adds the changes already queued to `batch`, then, while changes are announced,
    /// sleeps until the last of them is queued (its announcement's end wakes the thread)
    /// or the linger since `first_at` is over, and takes what came meanwhile.
    fn rest(&self, batch: &mut Vec<Box<dyn Job>>, first_at: Instant) {
        loop {
            self.take_queued(batch);
            if batch.len() >= MAX_BATCH {
                return;
            }
            if self.coming.load(Ordering::Acquire) == 0 {
                // What was queued just before its announcement ended.
                return self.take_queued(batch);
            }
            let Some(left) = self.linger.checked_sub(first_at.elapsed()) else { return };
            // Woken early by the end of the last announcement, or for no reason: both
            // lead back to the checks above.
            std::thread::park_timeout(left);
        }
    }

    fn take_queued(&self, batch: &mut Vec<Box<dyn Job>>) {
        while batch.len() < MAX_BATCH {
            match self.queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => return,
            }
        }
    }
}

/// The writer thread: waits for a change, takes every other one that is waiting or
/// announced, and commits them together.
fn serve(conn: &Connection, gathering: &Gathering, stamp: Option<&CommitStamp>, data_dir: Option<&File>) {
    while let Ok(first) = gathering.queue.recv() {
        let mut batch = vec![first];
        gathering.rest(&mut batch, Instant::now());
        // Every new file of the batch was created before its job was queued, so one sync
        // now covers them all. Before BEGIN: the database stays free for other processes
        // meanwhile.
        if let Some(dir) = data_dir
            && batch.iter().any(|job| job.records_new_file())
            && let Err(e) = dir.sync_all()
        {
            let why = BatchError::DirSync(e);
            let (refused, rest): (Vec<_>, Vec<_>) = batch.into_iter().partition(|job| job.records_new_file());
            for job in refused {
                job.refuse(&why);
            }
            batch = rest;
            if batch.is_empty() {
                continue;
            }
        }
        // IMMEDIATE: take the write lock now (waiting out other processes up to the busy
        // timeout) rather than fail half-way through the batch.
        if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
            let why = BatchError::Database(e);
            for job in batch {
                job.refuse(&why);
            }
            continue;
        }
        let answers: Vec<_> = batch.into_iter().map(|job| job.run(conn)).collect();
        let committed = control(conn, "COMMIT").map_err(BatchError::Database);
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
        syncing_writer(dir, None)
    }

    /// A writer that syncs `data_dir` before commits with new files.
    fn syncing_writer(dir: &std::path::Path, data_dir: Option<File>) -> GroupWriter {
        let conn = Connection::open(dir.join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)").unwrap();
        GroupWriter::spawn(conn, None, data_dir).unwrap()
    }

    fn count(dir: &std::path::Path) -> i64 {
        Connection::open(dir.join("t.db")).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn concurrent_changes_all_commit_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(writer(dir.path()));
        let results = all_at_once(&writer, 32, |writer, i| {
            let change = move |conn: &Connection| {
                conn.execute("INSERT INTO t (v) VALUES (?1)", [i]).map_err(db_err)?;
                // Every fourth change inserts, then fails: its row must not stay.
                if i % 4 == 0 { Err(StorageError::other("refused")) } else { Ok(i) }
            };
            writer.run(change, false)
        });
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), i % 4 != 0, "change {i}: {result:?}");
        }
        drop(writer);
        assert_eq!(count(dir.path()), 24);
    }

    #[test]
    fn a_failing_single_statement_change_undoes_itself_and_the_transaction_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY CHECK (v < 100))").unwrap();
        control(&conn, "BEGIN IMMEDIATE").unwrap();
        assert_eq!(in_one_statement(&conn, insert(1)).unwrap(), 1);
        // A statement that fails half-way: the first row of its two would go in, the second breaks the check.
        let failed = in_one_statement(&conn, |conn: &Connection| {
            conn.execute("INSERT INTO t (v) VALUES (2), (100)", []).map_err(db_err)
        });
        assert!(failed.is_err());
        let panicked = in_one_statement(&conn, |_: &Connection| -> Result<(), StorageError> { panic!("boom") });
        assert!(panicked.is_err());
        assert_eq!(in_one_statement(&conn, insert(3)).unwrap(), 1);
        control(&conn, "COMMIT").unwrap();
        let rows: Vec<i64> = conn
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [1, 3]);
    }

    #[test]
    fn a_panicking_change_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path());
        let panicked = writer.run(|_| -> Result<(), StorageError> { panic!("boom") }, false);
        assert!(panicked.is_err());
        writer.run(insert(1), false).unwrap();
        drop(writer);
        assert_eq!(count(dir.path()), 1);
    }

    #[test]
    fn an_answer_comes_only_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(dir.path());
        writer.run(insert(7), false).unwrap();
        // Another connection sees the row as soon as `run` returned, without closing the writer.
        assert_eq!(count(dir.path()), 1);
    }

    /// Runs `change(writer, i)` for `i` in `0..n` on `n` threads released together, so that
    /// the writer gets them in few batches; returns the results in order.
    fn all_at_once<T: Send + 'static>(
        writer: &Arc<GroupWriter>,
        n: i64,
        change: impl Fn(&GroupWriter, i64) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let (start, change) = (Arc::new(Barrier::new(n as usize)), Arc::new(change));
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (writer, start, change) = (Arc::clone(writer), Arc::clone(&start), Arc::clone(&change));
                std::thread::spawn(move || {
                    start.wait();
                    change(&writer, i)
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).collect()
    }

    fn insert(v: i64) -> impl FnOnce(&Connection) -> Result<usize, StorageError> + Send + 'static {
        move |conn| conn.execute("INSERT INTO t (v) VALUES (?1)", [v]).map_err(db_err)
    }

    /// A writer that holds commits back for announced changes up to `linger`.
    fn lingering_writer(dir: &std::path::Path, linger: Duration) -> GroupWriter {
        let conn = Connection::open(dir.join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)").unwrap();
        GroupWriter::spawn_lingering(conn, None, None, linger).unwrap()
    }

    /// Longer than any test runs.
    const FOREVER: Duration = Duration::from_secs(3600);
    /// How long a test waits for an answer that must come.
    const ANSWERED: Duration = Duration::from_secs(60);

    /// Asserts that no answer comes on `answer` for a while: the change's commit is held back.
    fn assert_held_back<T: std::fmt::Debug>(answer: &Receiver<T>) {
        let waited = answer.recv_timeout(Duration::from_millis(300));
        assert!(matches!(waited, Err(std::sync::mpsc::RecvTimeoutError::Timeout)), "{waited:?}");
    }

    #[test]
    fn a_commit_waits_for_an_announced_change_and_shares_it() {
        let dir = tempfile::tempdir().unwrap();
        let writer = lingering_writer(dir.path(), FOREVER);
        let coming = writer.announce();
        let first = writer.queue(insert(1), false);
        // The announced change has not come yet.
        assert_held_back(&first);
        assert_eq!(count(dir.path()), 0);
        let path = dir.path().to_owned();
        let second = coming.run(
            move |conn: &Connection| {
                conn.execute("INSERT INTO t (v) VALUES (2)", []).map_err(db_err)?;
                // In the first change's transaction: this connection sees its row, another does not.
                let mine: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).map_err(db_err)?;
                Ok((mine, count(&path)))
            },
            false,
        );
        assert_eq!(second.unwrap(), (2, 0));
        assert_eq!(first.recv().unwrap().unwrap(), 1);
        assert_eq!(count(dir.path()), 2);
    }

    #[test]
    fn a_commit_goes_at_once_when_no_other_change_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let writer = lingering_writer(dir.path(), FOREVER);
        assert_eq!(writer.queue(insert(1), false).recv_timeout(ANSWERED).unwrap().unwrap(), 1);
        // Announced, then queued through the announcement: nothing else is coming, and the
        // commit does not wait for the announcement of the change it holds.
        let (done, answered) = sync_channel(1);
        std::thread::scope(|scope| {
            let writer = &writer;
            scope.spawn(move || done.send(writer.announce().run(insert(2), false)));
            assert_eq!(answered.recv_timeout(ANSWERED).unwrap().unwrap(), 1);
        });
        let coming = writer.announce();
        let queued = writer.queue(insert(3), false);
        assert!(coming.submit(Box::new(Change { work: insert(4), new_file: false, reply: sync_channel(1).0 })).is_ok());
        assert_eq!(queued.recv_timeout(ANSWERED).unwrap().unwrap(), 1);
        assert_eq!(count(dir.path()), 4);
    }

    #[test]
    fn a_given_up_announcement_releases_the_commit_it_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let writer = lingering_writer(dir.path(), FOREVER);
        let coming = writer.announce();
        let first = writer.queue(insert(1), false);
        assert_held_back(&first);
        drop(coming);
        assert_eq!(first.recv_timeout(ANSWERED).unwrap().unwrap(), 1);
        assert_eq!(count(dir.path()), 1);
    }

    #[test]
    fn an_announced_change_that_never_comes_holds_a_commit_back_only_for_the_linger() {
        let dir = tempfile::tempdir().unwrap();
        let writer = lingering_writer(dir.path(), Duration::from_millis(50));
        let coming = writer.announce();
        assert_eq!(writer.run(insert(1), false).unwrap(), 1);
        assert_eq!(writer.run(insert(2), false).unwrap(), 1);
        drop(coming);
        assert_eq!(count(dir.path()), 2);
    }

    #[test]
    fn changes_with_new_files_commit_when_a_real_directory_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let writer = syncing_writer(dir.path(), Some(File::open(dir.path()).unwrap()));
        writer.run(insert(1), true).unwrap();
        writer.run(insert(2), false).unwrap();
        drop(writer);
        assert_eq!(count(dir.path()), 2);
    }

    #[test]
    fn a_failed_directory_sync_refuses_only_the_changes_with_new_files() {
        let dir = tempfile::tempdir().unwrap();
        // `fsync` of a character device fails (EINVAL), as a directory's sync might.
        let writer = Arc::new(syncing_writer(dir.path(), Some(File::open("/dev/null").unwrap())));
        let results = all_at_once(&writer, 16, |writer, i| writer.run(insert(i), i % 2 == 0));
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Err(StorageError::Io(e)) if i % 2 == 0 => {
                    assert!(e.to_string().contains("sync of their directory"), "{e}");
                }
                Ok(1) if i % 2 == 1 => {}
                other => panic!("change {i}: {other:?}"),
            }
        }
        drop(writer);
        assert_eq!(count(dir.path()), 8);
    }
}
