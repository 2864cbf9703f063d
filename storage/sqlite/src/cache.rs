//! Committed upload records kept in memory for `info` (HEAD).
//!
//! A change made by this storage goes through its writer, which drops the entry of the
//! upload it changed once the change is committed and before its caller hears back. A read
//! that raced with a change must not put back what it read before the change: every change
//! bumps a generation, and a read fills the cache only when the generation is the one it
//! saw before it started.
//!
//! When the directory is shared, other storages (other processes) commit behind this one's
//! back. Every shared storage then writes a fresh random *commit stamp* into the first bytes
//! of `uploads.lock` after each of its commits, before anyone hears of that commit (see
//! [`CommitStamp`]), and an entry is served only while the stamp is still the one read
//! before its record was read from the database: a HEAD sees every change acknowledged
//! before it was asked, whichever process made it. Checking costs one `pread` of 8 bytes
//! instead of a database read on another thread. One gap stays: a process that dies between
//! a commit and its stamp leaves a commit no stamp announces, so shared entries are also
//! trusted for [`SHARED_TRUST`] only. Until then HEAD may report that upload's offset as it
//! was before the commit (smaller, never larger; a PATCH at it gets 409 and the client asks
//! again).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tus_core::{UploadId, UploadInfo};

/// At most this many records are kept; a full cache starts over (HEAD then reads SQLite
/// until it is warm again), so memory stays bounded however many uploads there are.
const MAX_RECORDS: usize = 16 * 1024;

/// How long an entry of a shared directory's cache is served at most, however its stamp
/// reads: the bound on the gap a crashed process can leave (see the [module docs](self)).
pub(crate) const SHARED_TRUST: Duration = Duration::from_secs(1);

/// The commit stamp of a shared directory: 8 random bytes at the start of `uploads.lock`,
/// rewritten after every commit by every storage on the directory. Equal stamps mean no
/// commit announced itself in between; a random value (not a counter) stays unique when two
/// processes write at once or a restarted process starts over.
#[derive(Debug)]
pub(crate) struct CommitStamp {
    file: File,
}

impl CommitStamp {
    /// The stamp kept in `file` (a handle on `uploads.lock`).
    pub(crate) fn new(file: File) -> Self {
        Self { file }
    }

    /// Another handle on the same stamp (for the writer thread).
    pub(crate) fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Self { file: self.file.try_clone()? })
    }

    /// The current stamp, or `None` when it cannot be read (then nothing is served from or
    /// put in the cache).
    fn read(&self) -> Option<u64> {
        let mut bytes = [0; 8];
        self.file.read_exact_at(&mut bytes, 0).ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    /// Announces a commit: writes a new stamp. Call it after the commit and before anyone
    /// hears of it.
    pub(crate) fn renew(&self) -> std::io::Result<()> {
        self.file.write_all_at(&fresh_stamp().to_le_bytes(), 0)
    }
}

/// A random stamp; if the system's generator fails, the clock and a counter still give a
/// value this process never wrote before.
fn fresh_stamp() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (nanos.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40) ^ NEXT.fetch_add(1, Ordering::Relaxed)
    })
}

/// The cache; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct RecordCache {
    state: Mutex<State>,
    /// The directory's commit stamp when it is shared; `None` when this storage holds it
    /// exclusively.
    stamp: Option<CommitStamp>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<UploadId, Entry>,
    /// Changes committed by this storage so far.
    generation: u64,
}

#[derive(Debug)]
struct Entry {
    info: UploadInfo,
    /// The commit stamp read before the record was (0 when exclusive).
    stamp: u64,
    filled: Instant,
}

/// What a read saw before it started; hand it to [`RecordCache::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    generation: u64,
    /// `None`: the stamp could not be read, so the read must not fill the cache.
    stamp: Option<u64>,
}

impl RecordCache {
    /// The cache of a storage that holds its directory exclusively.
    pub(crate) fn exclusive() -> Self {
        Self { state: Mutex::default(), stamp: None }
    }

    /// The cache of a storage on a shared directory, checked against its commit stamp.
    pub(crate) fn shared(stamp: CommitStamp) -> Self {
        Self { state: Mutex::default(), stamp: Some(stamp) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The committed record of a live upload, if cached and still current.
    pub(crate) fn get(&self, id: &UploadId) -> Option<UploadInfo> {
        let (info, stamp, filled) = {
            let state = self.state();
            let entry = state.records.get(id)?;
            (entry.info.clone(), entry.stamp, entry.filled)
        };
        // The stamp after the entry (and outside the lock): equal to the one read before
        // the record was, it means no commit was announced between that read and now. A
        // miss costs no `pread`.
        if let Some(shared) = &self.stamp
            && (shared.read() != Some(stamp) || filled.elapsed() >= SHARED_TRUST)
        {
            return None;
        }
        Some(info)
    }

    /// What to hand to [`fill`](Self::fill); take it before reading the record.
    pub(crate) fn seen(&self) -> Seen {
        let generation = self.state().generation;
        let stamp = match &self.stamp {
            Some(shared) => shared.read(),
            None => Some(0),
        };
        Seen { generation, stamp }
    }

    /// Keeps `info`, read from the database after [`seen`](Self::seen) gave `seen`, unless
    /// a change was committed since.
    pub(crate) fn fill(&self, info: &UploadInfo, seen: Seen) {
        let Some(stamp) = seen.stamp else { return };
        let mut state = self.state();
        if state.generation != seen.generation {
            return;
        }
        if state.records.len() >= MAX_RECORDS {
            state.records.clear();
        }
        state.records.insert(info.id.clone(), Entry { info: info.clone(), stamp, filled: Instant::now() });
    }

    /// Forgets `id`: a change to it was committed (or may have been).
    pub(crate) fn invalidate(&self, id: &UploadId) {
        let mut state = self.state();
        state.generation += 1;
        state.records.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(id: &str, offset: u64) -> UploadInfo {
        let mut info = UploadInfo::new(UploadId::new(id).unwrap());
        info.offset = offset;
        info
    }

    fn id(id: &str) -> UploadId {
        UploadId::new(id).unwrap()
    }

    /// A shared cache and another handle on its stamp, as another process would have.
    fn shared() -> (RecordCache, CommitStamp, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        let open = || std::fs::OpenOptions::new().read(true).write(true).open(file.path()).unwrap();
        let other = CommitStamp::new(open());
        other.renew().unwrap();
        (RecordCache::shared(CommitStamp::new(open())), other, file)
    }

    #[test]
    fn a_read_older_than_a_change_is_not_kept() {
        let cache = RecordCache::exclusive();
        let seen = cache.seen();
        // A change commits while the read runs…
        cache.invalidate(&id("a"));
        // …so what the read got may be older than the change.
        cache.fill(&upload("a", 0), seen);
        assert_eq!(cache.get(&id("a")), None);

        let seen = cache.seen();
        cache.fill(&upload("a", 5), seen);
        assert_eq!(cache.get(&id("a")).map(|i| i.offset), Some(5));
        cache.invalidate(&id("a"));
        assert_eq!(cache.get(&id("a")), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = RecordCache::exclusive();
        for n in 0..MAX_RECORDS + 1 {
            cache.fill(&upload(&format!("u{n}"), 0), cache.seen());
        }
        assert_eq!(cache.state().records.len(), 1);
    }

    #[test]
    fn a_shared_entry_is_served_until_another_storage_announces_a_commit() {
        let (cache, other, _file) = shared();
        let seen = cache.seen();
        cache.fill(&upload("a", 5), seen);
        assert_eq!(cache.get(&id("a")).map(|i| i.offset), Some(5));
        other.renew().unwrap();
        assert_eq!(cache.get(&id("a")), None, "served across another storage's commit");
    }

    #[test]
    fn a_shared_read_that_raced_another_storages_commit_is_never_served() {
        let (cache, other, _file) = shared();
        let seen = cache.seen();
        // The other storage commits and announces it while this one reads the record.
        other.renew().unwrap();
        cache.fill(&upload("a", 0), seen);
        assert_eq!(cache.get(&id("a")), None);
    }

    #[test]
    fn a_shared_entry_expires_even_when_no_commit_announced_itself() {
        let (cache, _other, _file) = shared();
        cache.fill(&upload("a", 5), cache.seen());
        cache.state().records.get_mut(&id("a")).unwrap().filled -= SHARED_TRUST;
        assert_eq!(cache.get(&id("a")), None);
    }

    #[test]
    fn an_unreadable_stamp_turns_the_shared_cache_off() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // An empty file: no stamp to read.
        let cache = RecordCache::shared(CommitStamp::new(file.reopen().unwrap()));
        cache.fill(&upload("a", 5), cache.seen());
        assert_eq!(cache.get(&id("a")), None);
    }
}
