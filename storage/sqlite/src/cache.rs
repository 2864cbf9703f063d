//! Committed upload records kept in memory for `info` (HEAD), used only while the storage
//! holds its directory exclusively ([`SqliteStorageBuilder::exclusive`](crate::SqliteStorageBuilder::exclusive)).
//!
//! Then every change to the database goes through this storage's writer, which drops the
//! entry of the upload it changed once the change is committed and before its caller hears
//! back. A read that raced with a change must not put back what it read before the change:
//! every change bumps a generation, and a read fills the cache only when the generation is
//! the one it saw before it started.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tus_core::{UploadId, UploadInfo};

/// At most this many records are kept; a full cache starts over (HEAD then reads SQLite
/// until it is warm again), so memory stays bounded however many uploads there are.
const MAX_RECORDS: usize = 16 * 1024;

/// The cache; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct RecordCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<UploadId, UploadInfo>,
    /// Changes committed so far.
    generation: u64,
}

impl RecordCache {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The committed record of a live upload, if cached.
    pub(crate) fn get(&self, id: &UploadId) -> Option<UploadInfo> {
        self.state().records.get(id).cloned()
    }

    /// The generation to hand to [`fill`](Self::fill); take it before reading the record.
    pub(crate) fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Keeps `info`, read from the database after [`generation`](Self::generation) gave
    /// `seen`, unless a change was committed since.
    pub(crate) fn fill(&self, info: &UploadInfo, seen: u64) {
        let mut state = self.state();
        if state.generation != seen {
            return;
        }
        if state.records.len() >= MAX_RECORDS {
            state.records.clear();
        }
        state.records.insert(info.id.clone(), info.clone());
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

    #[test]
    fn a_read_older_than_a_change_is_not_kept() {
        let cache = RecordCache::default();
        let seen = cache.generation();
        // A change commits while the read runs…
        cache.invalidate(&UploadId::new("a").unwrap());
        // …so what the read got may be older than the change.
        cache.fill(&upload("a", 0), seen);
        assert_eq!(cache.get(&UploadId::new("a").unwrap()), None);

        let seen = cache.generation();
        cache.fill(&upload("a", 5), seen);
        assert_eq!(cache.get(&UploadId::new("a").unwrap()).map(|i| i.offset), Some(5));
        cache.invalidate(&UploadId::new("a").unwrap());
        assert_eq!(cache.get(&UploadId::new("a").unwrap()), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = RecordCache::default();
        for n in 0..MAX_RECORDS + 1 {
            cache.fill(&upload(&format!("u{n}"), 0), cache.generation());
        }
        assert_eq!(cache.state().records.len(), 1);
    }
}
