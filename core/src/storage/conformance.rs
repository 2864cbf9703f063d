//! The storage conformance suite: behaviour every [`Storage`](super::Storage) backend must have.
//! (Filled in by the SQLite storage work.)
