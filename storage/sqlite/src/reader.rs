//! Reads for async callers (HEAD, the janitor, health checks) on a few threads of their
//! own, each with its own reader connection.
//!
//! Handing each read to tokio's blocking pool cost more than the query: a pool thread is
//! woken for every request, and under load the pool grows past the idle connections, so
//! connections were opened and closed all the time. Here a few long-lived threads take the
//! reads from one queue; a thread takes every read waiting (up to [`MAX_BATCH`]) and runs
//! them in one read transaction (one snapshot, taken after all of them were asked for, so
//! each still sees every commit acknowledged before it was asked).
//!
//! Waking a thread costs more than the read itself, so reads asked for in the same turn of
//! the async scheduler share one wake-up: the read that finds the queue empty lets the
//! other ready tasks run first (one `yield_now`), then wakes a thread for all of them. Its
//! guard wakes a thread also when the caller is dropped during that yield, so no read is
//! left in the queue unannounced.
//!
//! WAL readers never wait for the writer, so these threads never wait for a PATCH either.

use crate::Durability;
use crate::db::open_reader;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tus_core::StorageError;

/// At most this many reads share one read transaction.
const MAX_BATCH: usize = 64;

/// How long an idle thread sleeps before it looks at the queue again on its own (a safety
/// net only: every read that makes the queue non-empty wakes a thread).
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// A read waiting for a thread; it answers its caller itself.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The reads waiting for a thread.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    /// Signalled when reads were queued (or the queue closed).
    queued: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    closed: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, Waiting> {
        // Every update leaves the state whole; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Wakes one reader thread when dropped: after the yield, or when the caller goes away
/// during it.
struct WakeReader<'a>(&'a Queue);

impl Drop for WakeReader<'_> {
    fn drop(&mut self) {
        self.0.queued.notify_one();
    }
}

/// The reader threads of a storage.
pub(crate) struct ReadThreads {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ReadThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadThreads").field("threads", &self.threads.len()).finish_non_exhaustive()
    }
}

impl ReadThreads {
    /// Opens `count` (at least one) reader connections to `path`, each on a thread of its own.
    pub(crate) fn spawn(path: &Path, durability: Durability, count: usize) -> Result<Self, StorageError> {
        let queue = Arc::new(Queue::default());
        let mut threads = Self { queue: Arc::clone(&queue), threads: Vec::new() };
        for n in 0..count.max(1) {
            let conn = open_reader(path, durability)?;
            let queue = Arc::clone(&queue);
            let thread = std::thread::Builder::new()
                .name(format!("tus-sqlite-reader-{n}"))
                .spawn(move || serve(&conn, &queue))
                .map_err(StorageError::Io)?;
            // On an error above, dropping `threads` stops the threads already started.
            threads.threads.push(thread);
        }
        Ok(threads)
    }

    /// Runs `work` on a reader connection and waits for its result without blocking.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
                .unwrap_or_else(|_| Err(StorageError::other("a database read panicked")));
            // A caller that went away does not need an answer.
            let _ = reply.send(result);
        });
        let first = {
            let mut waiting = self.queue.state();
            if waiting.closed {
                return Err(StorageError::other("the upload database readers have stopped"));
            }
            waiting.jobs.push(job);
            waiting.jobs.len() == 1
        };
        if first {
            // The reads the other ready tasks ask for now join this one's wake-up.
            let _wake = WakeReader(&self.queue);
            tokio::task::yield_now().await;
        }
        answer.await.unwrap_or_else(|_| Err(StorageError::other("an upload database reader stopped mid-read")))
    }
}

impl Drop for ReadThreads {
    fn drop(&mut self) {
        // Closing the queue ends the threads after the reads already queued.
        self.queue.state().closed = true;
        self.queue.queued.notify_all();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an upload database reader thread panicked");
            }
        }
    }
}

/// Runs a transaction statement through the statement cache (no parsing per batch).
fn control(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Takes the reads waiting (at most [`MAX_BATCH`]) into `batch`, sleeping while there are
/// none. Returns `false` once the queue is closed and empty.
fn take(queue: &Queue, batch: &mut Vec<Job>) -> bool {
    let mut waiting = queue.state();
    loop {
        if !waiting.jobs.is_empty() {
            if waiting.jobs.len() <= MAX_BATCH {
                std::mem::swap(&mut waiting.jobs, batch);
            } else {
                batch.extend(waiting.jobs.drain(..MAX_BATCH));
                // The rest is another thread's.
                queue.queued.notify_one();
            }
            return true;
        }
        if waiting.closed {
            return false;
        }
        waiting = match queue.queued.wait_timeout(waiting, IDLE_RECHECK) {
            Ok((waiting, _)) => waiting,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

/// One reader thread: runs the reads waiting, several in one read transaction.
fn serve(conn: &Connection, queue: &Queue) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while take(queue, &mut batch) {
        // Several reads share one snapshot: one lock on the WAL instead of one per read.
        let shared = batch.len() > 1 && control(conn, "BEGIN").is_ok();
        for job in batch.drain(..) {
            job(conn);
        }
        if shared && let Err(error) = control(conn, "COMMIT") {
            tracing::warn!(%error, "cannot end a read transaction");
            let _ = control(conn, "ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Instant;

    /// Reader threads on a fresh database (a WAL file with nothing in it).
    fn threads(dir: &Path, count: usize) -> ReadThreads {
        let path = dir.join("reads.db");
        rusqlite::Connection::open(&path).unwrap().pragma_update(None, "journal_mode", "WAL").unwrap();
        ReadThreads::spawn(&path, Durability::Buffered, count).unwrap()
    }

    fn ping(conn: &Connection) -> Result<i64, StorageError> {
        conn.query_row("SELECT 40 + 2", [], |row| row.get(0)).map_err(crate::db::db_err)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_reads_at_once_are_all_answered() {
        let dir = tempfile::tempdir().unwrap();
        let threads = Arc::new(threads(dir.path(), 2));
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let threads = Arc::clone(&threads);
                tokio::spawn(async move { threads.run(ping).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 42);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_caller_dropped_before_it_woke_a_thread_does_not_strand_the_reads_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let threads = threads(dir.path(), 1);
        // The thread is up and, after a little while, asleep on the empty queue.
        assert_eq!(threads.run(ping).await.unwrap(), 42);
        std::thread::sleep(Duration::from_millis(20));
        {
            // Polled once, the first read is queued and yields before it wakes a thread.
            let mut first = pin!(threads.run(ping));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(first.as_mut().poll(&mut cx), Poll::Pending));
            assert_eq!(threads.queue.state().jobs.len(), 1);
        }
        // The second read queues behind it and wakes nobody itself: the dropped read's
        // guard must have woken the thread, well before its idle re-check.
        let started = Instant::now();
        let answer = tokio::time::timeout(IDLE_RECHECK / 2, threads.run(ping)).await;
        assert_eq!(answer.expect("the read was stranded in the queue").unwrap(), 42);
        assert!(started.elapsed() < IDLE_RECHECK / 2);
    }
}
