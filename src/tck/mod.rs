//! The reusable Reactive Streams conformance verifier.
