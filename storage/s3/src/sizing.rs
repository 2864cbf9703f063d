//! Part sizes: chosen so that an upload never needs more than S3's 10,000 parts.

/// S3's smallest part (all but the last part of a multipart upload): 5 MiB.
pub const S3_MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part: 5 GiB.
pub const S3_MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// S3's largest number of parts in one multipart upload.
pub const S3_MAX_PARTS: u64 = 10_000;
/// S3's largest object: 5 TiB.
pub const S3_MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * MIB;

const MIB: u64 = 1024 * 1024;

/// How many parts share one size before a deferred-length upload doubles it.
const PARTS_PER_STEP: i32 = 900;

/// How part sizes are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizing {
    /// The preferred part size.
    pub(crate) part_size: u64,
    /// Every part has exactly `part_size` bytes (but the last), whatever the length.
    pub(crate) fixed: bool,
}

impl Sizing {
    /// The first part size of a new upload, and whether sizes grow (deferred length).
    ///
    /// A known length gets one size for every part, large enough for 10,000 parts, rounded
    /// up to a MiB. A deferred length starts at the preferred size and doubles every 900
    /// parts, which reaches S3's 5 TiB object limit well within 10,000 parts.
    pub(crate) fn plan(&self, length: Option<u64>) -> (u64, bool) {
        if self.fixed {
            return (self.part_size, false);
        }
        match length {
            Some(length) if length.div_ceil(self.part_size) <= S3_MAX_PARTS => (self.part_size, false),
            Some(length) => {
                let needed = length.div_ceil(S3_MAX_PARTS).div_ceil(MIB) * MIB;
                (needed.min(S3_MAX_PART_SIZE), false)
            }
            None => (self.part_size, true),
        }
    }

    /// The largest upload these sizes allow (fixed sizes cap it at 10,000 parts).
    pub(crate) fn max_upload_size(&self) -> u64 {
        if self.fixed { (self.part_size * S3_MAX_PARTS).min(S3_MAX_OBJECT_SIZE) } else { S3_MAX_OBJECT_SIZE }
    }
}

/// The size of part `number` (1-based) of an upload planned with `first` and `growing`.
pub(crate) fn part_size(first: u64, growing: bool, number: i32) -> u64 {
    if !growing {
        return first;
    }
    let step = u32::try_from((number.max(1) - 1) / PARTS_PER_STEP).unwrap_or(0).min(20);
    first.saturating_mul(1u64 << step).min(S3_MAX_PART_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_lengths_fit_in_10000_parts() {
        let sizing = Sizing { part_size: 8 * MIB, fixed: false };
        assert_eq!(sizing.plan(Some(1)), (8 * MIB, false));
        for length in [80 * 1024 * MIB, 81 * 1024 * MIB, S3_MAX_OBJECT_SIZE] {
            let (size, growing) = sizing.plan(Some(length));
            assert!(!growing);
            assert!(length.div_ceil(size) <= S3_MAX_PARTS, "{length} in parts of {size}");
            assert!(size <= S3_MAX_PART_SIZE);
        }
    }

    #[test]
    fn deferred_lengths_grow_to_5_tib_within_10000_parts() {
        let sizing = Sizing { part_size: S3_MIN_PART_SIZE, fixed: false };
        let (first, growing) = sizing.plan(None);
        assert!(growing);
        let total: u64 = (1..=S3_MAX_PARTS as i32).map(|n| part_size(first, growing, n)).sum();
        assert!(total >= S3_MAX_OBJECT_SIZE, "only {total} bytes in 10,000 parts");
        assert_eq!(part_size(first, growing, 900), first);
        assert_eq!(part_size(first, growing, 901), 2 * first);
    }

    #[test]
    fn fixed_sizes_cap_the_upload() {
        let sizing = Sizing { part_size: 8 * MIB, fixed: true };
        assert_eq!(sizing.plan(Some(S3_MAX_OBJECT_SIZE)), (8 * MIB, false));
        assert_eq!(sizing.max_upload_size(), 80_000 * MIB);
    }
}
