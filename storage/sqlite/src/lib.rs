//! SQLite + filesystem storage for tus-core (work in progress).
