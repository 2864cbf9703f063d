//! Object names every cloud backend gives an upload under its prefix: `{prefix}info/{id}`
//! (the [`UploadRecord`](crate::UploadRecord) as JSON, with listing metadata) and
//! `{prefix}data/{id}` (the bytes of a complete upload). Backends add their own names
//! for the pieces in between (parts, blocks) from [`Layout::prefix`].

use tus_core::UploadId;

/// The names of an upload's objects under one prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// Names under `prefix` (a leading `/` is dropped: object names have none).
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.trim_start_matches('/').to_owned() }
    }

    /// The prefix, e.g. `tus/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What every info object's name starts with.
    pub fn info_prefix(&self) -> String {
        format!("{}info/", self.prefix)
    }

    /// The info object of `id`.
    pub fn info(&self, id: &UploadId) -> String {
        format!("{}info/{id}", self.prefix)
    }

    /// The data object of `id`.
    pub fn data(&self, id: &UploadId) -> String {
        format!("{}data/{id}", self.prefix)
    }
}

/// A random hex token (96 bits), for names no other writer can pick: a losing or failed
/// writer's objects or blocks never replace recorded ones.
pub fn token() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_prefix() {
        let layout = Layout::new("/tus/");
        let id = UploadId::new("abc").unwrap();
        assert_eq!(layout.prefix(), "tus/");
        assert_eq!(
            (layout.info_prefix(), layout.info(&id), layout.data(&id)),
            ("tus/info/".into(), "tus/info/abc".into(), "tus/data/abc".into())
        );
        let (one, two) = (token(), token());
        assert_eq!(one.len(), 24);
        assert_ne!(one, two);
    }
}
