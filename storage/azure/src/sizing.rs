//! Block sizes: Azure allows 50,000 blocks per blob of at most 4000 MiB each, so the block
//! size grows with `Upload-Length` (or, for deferred lengths, with the number of blocks).

/// Blocks per blob (Azure's limit).
pub(crate) const MAX_BLOCKS: usize = 50_000;
/// The largest block Azure accepts.
pub(crate) const MAX_BLOCK_SIZE: u64 = 4000 << 20;
/// The largest range one Put Block From URL copies (the service's limit for that call).
pub(crate) const MAX_COPY_BLOCK: u64 = 100 << 20;

/// The size of the blocks a PATCH is cut into, for an upload of `length` (if known) that
/// has `blocks` blocks already.
pub(crate) fn block_size(configured: u64, length: Option<u64>, blocks: usize) -> u64 {
    let size = match length {
        // Leave room for each PATCH's short last block: aim for at most half the limit.
        Some(length) => configured.max(length.div_ceil(MAX_BLOCKS as u64 / 2)),
        // Unknown length: double every 5,000 blocks (10 doublings before the limit).
        None => configured.saturating_mul(1 << (blocks / 5_000).min(20)),
    };
    if size <= configured {
        return configured.clamp(1, MAX_BLOCK_SIZE);
    }
    // Grown sizes in whole MiB, within Azure's limit.
    size.div_ceil(1 << 20).saturating_mul(1 << 20).min(MAX_BLOCK_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_length_and_blocks() {
        let base = 8 << 20;
        assert_eq!(block_size(base, Some(1 << 30), 0), base);
        // 1 TiB over 25,000 blocks: just over 41 MiB, rounded up to whole MiB.
        assert_eq!(block_size(base, Some(1 << 40), 0), 42 << 20);
        assert!(block_size(base, Some(u64::MAX / 2), 0) <= MAX_BLOCK_SIZE);
        assert_eq!(block_size(base, None, 4_999), base);
        assert_eq!(block_size(base, None, 5_000), 2 * base);
        // Small configured sizes (tests) stay as configured.
        assert_eq!(block_size(1000, Some(10_000), 0), 1000);
    }
}
