//! Per-stage metrics.
