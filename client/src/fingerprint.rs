//! Fingerprints: what identifies a file across sessions, to find its unfinished upload.

use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Computes the fingerprint of a file: equal fingerprints mean "the same file, unchanged".
///
/// Closures `Fn(&Path) -> io::Result<String>` are fingerprinters too.
pub trait Fingerprinter: Send + Sync {
    /// The fingerprint of the file at `path`.
    fn fingerprint(&self, path: &Path) -> io::Result<String>;
}

impl<F> Fingerprinter for F
where
    F: Fn(&Path) -> io::Result<String> + Send + Sync,
{
    fn fingerprint(&self, path: &Path) -> io::Result<String> {
        self(path)
    }
}

/// The default fingerprint: `sha256:` and the hex SHA-256 of the file's size, its
/// modification time and its first and last 64 KiB. Cheap on large files (at most
/// 128 KiB are read) and changed by any resize, any write that touches the modification
/// time, and any change to the head or tail.
///
/// ```no_run
/// use tus_rs_client::{DefaultFingerprinter, Fingerprinter};
///
/// let fingerprint = DefaultFingerprinter.fingerprint("video.mp4".as_ref())?;
/// assert!(fingerprint.starts_with("sha256:"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultFingerprinter;

impl DefaultFingerprinter {
    /// How much of the head and of the tail is hashed.
    pub const SAMPLE: u64 = 64 * 1024;
}

impl Fingerprinter for DefaultFingerprinter {
    fn fingerprint(&self, path: &Path) -> io::Result<String> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let size = meta.len();
        let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(b"tus-rs-client fingerprint v1\0");
        hasher.update(size.to_le_bytes());
        hasher.update(modified.as_secs().to_le_bytes());
        hasher.update(modified.subsec_nanos().to_le_bytes());
        let mut sample = Vec::with_capacity(Self::SAMPLE as usize);
        (&mut file).take(Self::SAMPLE).read_to_end(&mut sample)?;
        hasher.update(&sample);
        if size > Self::SAMPLE {
            let tail = size.saturating_sub(Self::SAMPLE).max(Self::SAMPLE);
            file.seek(SeekFrom::Start(tail))?;
            sample.clear();
            (&mut file).take(Self::SAMPLE).read_to_end(&mut sample)?;
            hasher.update(&sample);
        }
        let digest = hasher.finalize();
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in digest {
            out.push_str(&format!("{byte:02x}"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn write(path: &Path, data: &[u8], mtime: SystemTime) {
        std::fs::write(path, data).unwrap();
        File::options().write(true).open(path).unwrap().set_modified(mtime).unwrap();
    }

    #[test]
    fn same_file_same_fingerprint_any_change_another() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let b = dir.path().join("b.bin");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        write(&a, &data, t);
        write(&b, &data, t);
        let fp = DefaultFingerprinter.fingerprint(&a).unwrap();
        assert!(fp.starts_with("sha256:") && fp.len() == 71, "{fp}");
        assert_eq!(fp, DefaultFingerprinter.fingerprint(&a).unwrap(), "stable");
        assert_eq!(fp, DefaultFingerprinter.fingerprint(&b).unwrap(), "a copy with the same mtime matches");

        // The last byte (in the tail sample), the first byte, the size, the mtime.
        let mut tail = data.clone();
        *tail.last_mut().unwrap() ^= 1;
        write(&b, &tail, t);
        assert_ne!(fp, DefaultFingerprinter.fingerprint(&b).unwrap());
        let mut head = data.clone();
        head[0] ^= 1;
        write(&b, &head, t);
        assert_ne!(fp, DefaultFingerprinter.fingerprint(&b).unwrap());
        write(&b, &data[..data.len() - 1], t);
        assert_ne!(fp, DefaultFingerprinter.fingerprint(&b).unwrap());
        write(&b, &data, t + Duration::from_secs(1));
        assert_ne!(fp, DefaultFingerprinter.fingerprint(&b).unwrap());
        // A change in the middle, outside both samples, with size and mtime kept, is not
        // seen: that is the price of not reading the whole file.
        let mut middle = data.clone();
        middle[150_000] ^= 1;
        write(&b, &middle, t);
        assert_eq!(fp, DefaultFingerprinter.fingerprint(&b).unwrap());
    }

    #[test]
    fn small_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        let e = dir.path().join("empty");
        write(&e, b"", t);
        let s = dir.path().join("small");
        write(&s, b"hello", t);
        assert_ne!(DefaultFingerprinter.fingerprint(&e).unwrap(), DefaultFingerprinter.fingerprint(&s).unwrap());
        assert!(DefaultFingerprinter.fingerprint(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn closures_are_fingerprinters() {
        let by_name = |path: &Path| -> io::Result<String> { Ok(path.display().to_string()) };
        assert_eq!(by_name.fingerprint(Path::new("/x/y")).unwrap(), "/x/y");
    }
}
