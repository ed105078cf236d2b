//! Schedulers: where and when stream work runs.
