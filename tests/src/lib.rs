//! The tus conformance suite (work in progress).
