//! Reads for async callers (HEAD, the janitor, health checks) on a few threads of their
//! own, each with its own reader connection.
//!
//! Handing each read to tokio's blocking pool cost more than the query: a pool thread is
//! woken for every request, and under load the pool grows past the idle connections, so
//! connections were opened and closed all the time. Here a few long-lived threads take the
//! reads from one queue; a thread that finds several waiting runs them in one read
//! transaction (one snapshot, taken after all of them were asked for, so each still sees
//! every commit acknowledged before it was asked).
//!
//! WAL readers never wait for the writer, so these threads never wait for a PATCH either.

use crate::Durability;
use crate::db::open_reader;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use tus_core::StorageError;

/// At most this many reads share one read transaction.
const MAX_BATCH: usize = 64;

/// A read waiting for a thread; it answers its caller itself.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The reader threads of a storage.
pub(crate) struct ReadThreads {
    jobs: Option<Sender<Job>>,
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
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let conn = open_reader(path, durability)?;
            let queue = Arc::clone(&queue);
            let thread = std::thread::Builder::new()
                .name(format!("tus-sqlite-reader-{n}"))
                .spawn(move || serve(&conn, &queue))
                .map_err(StorageError::Io)?;
            threads.push(thread);
        }
        Ok(Self { jobs: Some(jobs), threads })
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
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(StorageError::other("the upload database readers have stopped"));
        }
        answer.await.unwrap_or_else(|_| Err(StorageError::other("an upload database reader stopped mid-read")))
    }
}

impl Drop for ReadThreads {
    fn drop(&mut self) {
        // Closing the queue ends the threads after the reads already sent.
        self.jobs.take();
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

/// One reader thread: takes the reads waiting (at most [`MAX_BATCH`]) and runs them.
fn serve(conn: &Connection, queue: &Mutex<Receiver<Job>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            // Only one idle thread waits on the queue; the others wait for this lock.
            let queue = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match queue.recv() {
                Ok(job) => batch.push(job),
                Err(_) => return,
            }
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
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
