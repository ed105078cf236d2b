//! The peers both redis benches measure the connector against, hand-written over the same `redis`
//! client: for the source, `XREADGROUP COUNT 256` and one `XACK` per batch, decoding the one u64
//! field; for the sink, pipelines of 100 `XADD`s (one u64 field) per round trip.

use std::sync::atomic::{AtomicU64, Ordering};

use super::common::RedisServer;

/// Reads and acks as consumer `name` of group `g` until `total` (shared by every raw consumer)
/// reaches `items`.
pub fn raw_consumer(server: &RedisServer, stream: &str, name: &str, items: u64, total: &AtomicU64) {
    let mut con = server.connection();
    while total.load(Ordering::Relaxed) < items {
        let reply: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg(name)
            .arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(20)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query(&mut con)
            .unwrap();
        let redis::Value::Array(streams) = reply else {
            continue;
        };
        let mut ids = Vec::with_capacity(256);
        for s in streams {
            let redis::Value::Array(mut pair) = s else {
                continue;
            };
            let Some(redis::Value::Array(entries)) = pair.pop() else {
                continue;
            };
            for e in entries {
                let redis::Value::Array(mut e) = e else {
                    continue;
                };
                let fields = e.pop();
                let Some(redis::Value::BulkString(id)) = e.pop() else {
                    continue;
                };
                if let Some(redis::Value::Array(f)) = fields {
                    if let Some(redis::Value::BulkString(v)) = f.get(1) {
                        let n: u64 = std::str::from_utf8(v).unwrap().parse().unwrap();
                        std::hint::black_box(n);
                    }
                }
                ids.push(id);
            }
        }
        if !ids.is_empty() {
            let n = ids.len() as u64;
            let _: i64 = redis::cmd("XACK")
                .arg(stream)
                .arg("g")
                .arg(&ids)
                .query(&mut con)
                .unwrap();
            total.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Writes `items` entries (field `n` = 0, 1, ...) to `stream`, 100 pipelined `XADD`s per round
/// trip.
pub fn raw_xadd(server: &RedisServer, stream: &str, items: u64) {
    let mut con = server.connection();
    let mut next = 0u64;
    while next < items {
        let mut pipe = redis::pipe();
        for x in next..(next + 100).min(items) {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("n")
                .arg(x)
                .ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        next += 100;
    }
}
