//! The Redis names of an upload's lease and channels.

/// Builds the key and channel names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

/// What a message on one of our channels is about.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Channel<'a> {
    /// A waiter asks the holder of upload `.0` to let go.
    Release(&'a str),
    /// The lock on upload `.0` was just released.
    Released(&'a str),
}

const LOCK: &str = "lock:";
const RELEASE: &str = "release:";
const RELEASED: &str = "released:";
const WAITING: &str = "waiting:";

impl Keys {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The key holding the lease on `id`.
    pub(crate) fn lock(&self, id: &str) -> String {
        format!("{}{LOCK}{id}", self.prefix)
    }

    /// The key that says a request found the lock on `id` held and may be waiting for it.
    pub(crate) fn waiting(&self, id: &str) -> String {
        format!("{}{WAITING}{id}", self.prefix)
    }

    /// The channel release requests for `id` are published on.
    pub(crate) fn release(&self, id: &str) -> String {
        format!("{}{RELEASE}{id}", self.prefix)
    }

    /// The channel that says the lock on `id` was released.
    pub(crate) fn released(&self, id: &str) -> String {
        format!("{}{RELEASED}{id}", self.prefix)
    }

    /// The `PSUBSCRIBE` patterns matching both channels of every upload.
    pub(crate) fn patterns(&self) -> [String; 2] {
        let prefix = glob_escape(&self.prefix);
        [format!("{prefix}{RELEASE}*"), format!("{prefix}{RELEASED}*")]
    }

    /// Which upload a channel name is about, if it is one of ours.
    pub(crate) fn parse<'a>(&self, channel: &'a str) -> Option<Channel<'a>> {
        let rest = channel.strip_prefix(self.prefix.as_str())?;
        if let Some(id) = rest.strip_prefix(RELEASED) {
            Some(Channel::Released(id))
        } else {
            rest.strip_prefix(RELEASE).map(Channel::Release)
        }
    }
}

/// Escapes the characters Redis glob patterns treat specially.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        let keys = Keys::new("tus:");
        assert_eq!(keys.lock("abc"), "tus:lock:abc");
        assert_eq!(keys.release("abc"), "tus:release:abc");
        assert_eq!(keys.released("abc"), "tus:released:abc");
        assert_eq!(keys.waiting("abc"), "tus:waiting:abc");
        assert_eq!(keys.parse("tus:release:abc"), Some(Channel::Release("abc")));
        assert_eq!(keys.parse("tus:released:abc"), Some(Channel::Released("abc")));
        assert_eq!(keys.parse("tus:releasedabc"), None);
        assert_eq!(keys.parse("other:release:abc"), None);
        assert_eq!(keys.patterns(), ["tus:release:*".to_owned(), "tus:released:*".to_owned()]);
    }

    #[test]
    fn special_characters_in_the_prefix_are_escaped_in_patterns() {
        let keys = Keys::new("a*b?[c]\\:");
        assert_eq!(keys.patterns()[0], "a\\*b\\?\\[c\\]\\\\:release:*");
        assert_eq!(keys.parse("a*b?[c]\\:release:x"), Some(Channel::Release("x")));
    }
}
