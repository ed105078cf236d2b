//! Connections, backoff and reply parsing shared by the source and the sink.

use std::time::{Duration, Instant};

use redis::{Connection, RedisError, Value};

use crate::entry::EntryId;
use crate::url::RedisUrl;

/// Exponential backoff with jitter, `min` doubling up to `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9)
            | 1;
        Backoff {
            min,
            max: max.max(min),
            next: min,
            seed,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// The next delay: the current step with ±25% jitter; the step then doubles.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // xorshift64: jitter only, not security.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let quarter = base / 4;
        let span = quarter.as_nanos() as u64 * 2 + 1;
        base - quarter + Duration::from_nanos(self.seed % span)
    }
}

/// Opens a connection whose read timeout is `read_timeout` (always longer than any `BLOCK` sent
/// on it: a shorter one drops the reply of a read that did succeed on the server).
pub(crate) fn open(
    url: &RedisUrl,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> redis::RedisResult<Connection> {
    let client = url.client()?;
    let con = client.get_connection_with_timeout(connect_timeout)?;
    con.set_read_timeout(Some(read_timeout))?;
    con.set_write_timeout(Some(read_timeout))?;
    Ok(con)
}

/// Whether the error means the connection is gone or unusable (reconnect), not a refused command.
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        // A restarting server: still loading its data set, or not ready to serve.
        || matches!(e.code(), Some("LOADING" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN"))
}

/// Whether the server said the group (or its stream) does not exist.
pub(crate) fn is_nogroup(e: &RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// `XGROUP CREATE stream group start MKSTREAM`; an existing group (`BUSYGROUP`) is fine.
pub(crate) fn create_group(
    con: &mut Connection,
    stream: &str,
    group: &str,
    start: &str,
) -> redis::RedisResult<()> {
    let r: redis::RedisResult<Value> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query(con);
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sleeps `d` in slices, returning early (`false`) once `stop` says so.
pub(crate) fn sleep_unless(d: Duration, stop: impl Fn() -> bool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// One stream entry as it came off the wire; `fields == None` (or empty) means it was deleted.
/// The fields stay the reply's flat `[field, value, …]` values: the decoder reads them in place.
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub(crate) id: EntryId,
    pub(crate) fields: Option<Vec<Value>>,
}

pub(crate) fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

pub(crate) fn string(v: Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

fn bad(what: &str) -> String {
    format!("unexpected reply shape for {what}")
}

/// Entries in the `[[id, [f, v, ...] | nil], ...]` shape of XRANGE / XCLAIM / a stream's entries.
/// Appended to `out`.
pub(crate) fn parse_entries(v: Value, out: &mut Vec<RawEntry>) -> Result<(), String> {
    let items = array(v).ok_or_else(|| bad("entries"))?;
    out.reserve(items.len());
    for item in items {
        let mut pair = array(item).ok_or_else(|| bad("entry"))?.into_iter();
        let id = match pair.next() {
            Some(Value::BulkString(b)) => EntryId::new(&b),
            Some(Value::SimpleString(s)) => EntryId::new(s.as_bytes()),
            _ => None,
        }
        .ok_or_else(|| bad("entry id"))?;
        let fields = match pair.next() {
            None | Some(Value::Nil) => None,
            // RESP3 may send the fields as a map: flatten it to the RESP2 shape.
            Some(Value::Map(m)) => Some(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            Some(flat) => {
                let flat = array(flat).ok_or_else(|| bad("entry fields"))?;
                if flat.len() % 2 != 0 {
                    return Err(bad("entry fields"));
                }
                Some(flat)
            }
        };
        out.push(RawEntry { id, fields });
    }
    Ok(())
}

/// The entries of the one stream in an `XREADGROUP` reply (`nil` on timeout = none), in `out`
/// (cleared first; the reader passes the same buffer every time).
pub(crate) fn parse_xreadgroup(v: Value, mut out: Vec<RawEntry>) -> Result<Vec<RawEntry>, String> {
    out.clear();
    let streams: Vec<Value> = match v {
        Value::Nil => return Ok(out),
        Value::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        other => array(other)
            .ok_or_else(|| bad("XREADGROUP"))?
            .into_iter()
            .map(|s| {
                let mut pair = array(s).unwrap_or_default().into_iter();
                pair.nth(1).unwrap_or(Value::Nil)
            })
            .collect(),
    };
    for entries in streams {
        parse_entries(entries, &mut out)?;
    }
    Ok(out)
}

/// `XAUTOCLAIM` reply: next cursor, claimed entries, IDs found deleted (Redis ≥ 7.0).
pub(crate) fn parse_xautoclaim(v: Value) -> Result<(String, Vec<RawEntry>, Vec<String>), String> {
    let mut parts = array(v).ok_or_else(|| bad("XAUTOCLAIM"))?.into_iter();
    let cursor = parts
        .next()
        .and_then(string)
        .ok_or_else(|| bad("XAUTOCLAIM cursor"))?;
    let mut entries = Vec::new();
    parse_entries(parts.next().unwrap_or(Value::Nil), &mut entries)?;
    let deleted = array(parts.next().unwrap_or(Value::Nil))
        .unwrap_or_default()
        .into_iter()
        .filter_map(string)
        .collect();
    Ok((cursor, entries, deleted))
}

/// Extended `XPENDING` reply: `(id, consumer, idle ms, deliveries)` per entry.
pub(crate) fn parse_xpending(v: Value) -> Result<Vec<(String, String, u64, u64)>, String> {
    let rows = array(v).ok_or_else(|| bad("XPENDING"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let row = array(row).ok_or_else(|| bad("XPENDING row"))?;
        if row.len() < 4 {
            return Err(bad("XPENDING row"));
        }
        let idle = int(&row[2]).unwrap_or(0).max(0) as u64;
        let count = int(&row[3]).unwrap_or(1).max(0) as u64;
        let mut it = row.into_iter();
        let id = it
            .next()
            .and_then(string)
            .ok_or_else(|| bad("XPENDING id"))?;
        let consumer = it.next().and_then(string).unwrap_or_default();
        out.push((id, consumer, idle, count));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn xreadgroup_reply_with_a_deleted_entry() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("n"), bulk("7")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let e = parse_xreadgroup(reply, Vec::new()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id.as_str(), "1-0");
        assert_eq!(e[0].fields.as_deref(), Some(&[bulk("n"), bulk("7")][..]));
        assert!(e[1].fields.is_none());
        assert!(parse_xreadgroup(Value::Nil, Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn xautoclaim_and_xpending_replies() {
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![Value::Array(vec![bulk("3-0"), Value::Array(vec![])])]),
            Value::Array(vec![bulk("4-0")]),
        ]);
        let (cursor, entries, deleted) = parse_xautoclaim(reply).unwrap();
        assert_eq!(
            (cursor.as_str(), entries.len(), deleted),
            ("0-0", 1, vec!["4-0".to_string()])
        );
        let pending = Value::Array(vec![Value::Array(vec![
            bulk("3-0"),
            bulk("w1"),
            Value::Int(1500),
            Value::Int(4),
        ])]);
        assert_eq!(
            parse_xpending(pending).unwrap(),
            vec![("3-0".to_string(), "w1".to_string(), 1500, 4)]
        );
        assert!(parse_xpending(Value::Int(3)).is_err());
    }

    #[test]
    fn backoff_grows_to_its_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(80));
        let delays: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        assert!(
            delays[0] >= Duration::from_micros(7500) && delays[0] <= Duration::from_micros(12500)
        );
        assert!(delays[5] >= Duration::from_millis(60) && delays[5] <= Duration::from_millis(100));
        b.reset();
        assert!(b.next_delay() <= Duration::from_micros(12500));
    }
}
