//! Stream entries, and deliveries that are acknowledged after processing.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use redis::Value;

use crate::ack::AckLink;

/// The bytes of a field name or value (`Int` and the like as their text are not expected from
/// `XREADGROUP`; anything else reads as empty).
pub(crate) fn value_bytes(v: &Value) -> &[u8] {
    match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.as_bytes(),
        Value::VerbatimString { text, .. } => text.as_bytes(),
        _ => &[],
    }
}

/// A stream entry ID (`<ms>-<seq>`, at most 41 bytes), stored inline: a delivery, the in-flight
/// set and the `XACK` queue each hold a copy without allocating.
#[derive(Clone, Copy)]
pub(crate) struct EntryId {
    len: u8,
    buf: [u8; EntryId::CAPACITY],
}

impl EntryId {
    /// `u64::MAX` twice with a dash is 41 bytes; room to spare.
    pub(crate) const CAPACITY: usize = 47;

    /// The ID in `text`, or `None` when it is longer than any entry ID or not UTF-8.
    pub(crate) fn new(text: &[u8]) -> Option<EntryId> {
        if text.len() > Self::CAPACITY || std::str::from_utf8(text).is_err() {
            return None;
        }
        let mut buf = [0u8; Self::CAPACITY];
        buf[..text.len()].copy_from_slice(text);
        Some(EntryId {
            len: text.len() as u8,
            buf,
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `new` checked that these bytes are UTF-8, and they are never written again.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }
}

impl PartialEq for EntryId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EntryId {}

impl std::hash::Hash for EntryId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl redis::ToRedisArgs for EntryId {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        out.write_arg(self.as_bytes());
    }
}

/// A multiply-rotate hasher for entry IDs (the in-flight set is hashed once per delivery and
/// once per ack; the IDs come from the server, so SipHash's flood resistance buys nothing).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`IdHasher`]s.
pub(crate) type IdHash = std::hash::BuildHasherDefault<IdHasher>;

/// The field/value pairs of a stream entry, in stream order (for [`Entry::new`]).
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One stream entry as the decoder sees it: its ID and its field/value pairs.
///
/// The fields are the reply's own values, as they came off the wire (no copy per entry).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    id: String,
    /// `[field, value, field, value, …]`.
    flat: Vec<Value>,
}

impl Entry {
    /// An entry (for testing decoders without a server).
    pub fn new(id: impl Into<String>, fields: Fields) -> Entry {
        let mut flat = Vec::with_capacity(fields.len() * 2);
        for (k, v) in fields {
            flat.push(Value::BulkString(k));
            flat.push(Value::BulkString(v));
        }
        Entry {
            id: id.into(),
            flat,
        }
    }

    /// An empty entry whose buffers the reader reuses for every entry it decodes.
    pub(crate) fn scratch() -> Entry {
        Entry {
            id: String::with_capacity(EntryId::CAPACITY),
            flat: Vec::new(),
        }
    }

    /// Points this (scratch) entry at `id` and the wire's `flat` fields (copying the ID into the
    /// buffer it already has; the fields move in).
    pub(crate) fn load(&mut self, id: &EntryId, flat: Vec<Value>) {
        self.id.clear();
        self.id.push_str(id.as_str());
        self.flat = flat;
    }

    /// Takes the fields back out (to dead-letter them).
    pub(crate) fn take_fields(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.flat)
    }

    /// The entry ID (`<ms>-<seq>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every field/value pair, in stream order.
    ///
    /// ```
    /// use backflow_redis::Entry;
    /// let e = Entry::new("1-0", vec![(b"n".to_vec(), b"42".to_vec())]);
    /// assert_eq!(e.fields().collect::<Vec<_>>(), [(&b"n"[..], &b"42"[..])]);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.flat
            .chunks(2)
            .map(|kv| (value_bytes(&kv[0]), kv.get(1).map_or(&[][..], value_bytes)))
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The value of `name` as UTF-8; a missing field or bad UTF-8 is an error naming the field.
    pub fn get_str(&self, name: &str) -> Result<&str, String> {
        let raw = self
            .get(name)
            .ok_or_else(|| format!("field {name:?} missing"))?;
        std::str::from_utf8(raw).map_err(|_| format!("field {name:?} is not UTF-8"))
    }

    /// The value of `name` parsed with [`FromStr`](std::str::FromStr).
    ///
    /// ```
    /// use backflow_redis::Entry;
    /// let e = Entry::new("1-0", vec![(b"n".to_vec(), b"42".to_vec())]);
    /// assert_eq!(e.parse::<u64>("n"), Ok(42));
    /// assert!(e.parse::<u64>("m").unwrap_err().contains("missing"));
    /// ```
    pub fn parse<F>(&self, name: &str) -> Result<F, String>
    where
        F: std::str::FromStr,
        F::Err: fmt::Display,
    {
        self.get_str(name)?
            .parse()
            .map_err(|e| format!("field {name:?}: {e}"))
    }
}

/// The acknowledgement half of a [`Delivery`]: the entry ID and the way back to the group.
///
/// [`ack`](Ticket::ack) queues the ID for the next batched `XACK`. [`nack`](Ticket::nack), or
/// dropping the ticket, leaves the entry pending in the group: it is redelivered (to this or
/// another consumer, by `XAUTOCLAIM`) once it has been idle for `min_idle`, and dead-lettered
/// after `max_deliveries` deliveries.
pub struct Ticket {
    id: EntryId,
    /// Its place in the acknowledger's in-flight slots.
    slot: u32,
    deliveries: u64,
    link: Option<Arc<AckLink>>,
}

impl Ticket {
    pub(crate) fn new(id: EntryId, slot: u32, deliveries: u64, link: Arc<AckLink>) -> Ticket {
        Ticket {
            id,
            slot,
            deliveries,
            link: Some(link),
        }
    }

    /// The entry ID.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// How many times the group has delivered this entry, this delivery included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Marks the entry processed: its ID goes into the next batched `XACK`.
    pub fn ack(mut self) {
        if let Some(link) = self.link.take() {
            link.shared().ack(self.slot, self.id);
        }
    }

    /// Gives the entry back without acknowledging it: it stays pending for redelivery.
    pub fn nack(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if let Some(link) = self.link.take() {
            link.shared().release(self.slot, &self.id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("deliveries", &self.deliveries)
            .field("open", &self.link.is_some())
            .finish()
    }
}

/// A decoded entry and its [`Ticket`]: acknowledge it after processing.
///
/// Dereferences to the value. Dropping it without [`ack`](Delivery::ack) is a `nack`: the entry
/// stays pending in the consumer group (at-least-once; see the crate docs).
///
/// ```no_run
/// # use backflow_redis::Delivery;
/// fn handle(d: Delivery<u64>) {
///     let doubled = *d * 2; // process ...
///     # let _ = doubled;
///     d.ack(); // ... then acknowledge
/// }
/// ```
#[derive(Debug)]
pub struct Delivery<T> {
    value: T,
    ticket: Ticket,
}

impl<T> Delivery<T> {
    pub(crate) fn new(value: T, ticket: Ticket) -> Delivery<T> {
        Delivery { value, ticket }
    }

    /// The entry ID.
    pub fn id(&self) -> &str {
        self.ticket.id()
    }

    /// How many times the group has delivered this entry, this delivery included.
    pub fn deliveries(&self) -> u64 {
        self.ticket.deliveries()
    }

    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Acknowledges the entry (batched `XACK`).
    pub fn ack(self) {
        self.ticket.ack()
    }

    /// Leaves the entry pending for redelivery.
    pub fn nack(self) {
        self.ticket.nack()
    }

    /// Transforms the value, keeping the acknowledgement with it.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        Delivery {
            value: f(self.value),
            ticket: self.ticket,
        }
    }

    /// The value and the ticket, to acknowledge later (after a sink wrote the result, say).
    pub fn into_parts(self) -> (T, Ticket) {
        (self.value, self.ticket)
    }
}

impl<T> Deref for Delivery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Delivery<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
