//! Model checks of backflow's atomic protocols live in `tests/`, one file per protocol.
//!
//! Run them with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p backflow-loom-tests --release`.
