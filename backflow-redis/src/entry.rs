//! Stream entries, and deliveries that are acknowledged after processing.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::ack::AckLink;

/// The field/value pairs of a stream entry, in stream order.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One stream entry as the decoder sees it: its ID and its field/value pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    id: String,
    fields: Fields,
}

impl Entry {
    /// An entry (for testing decoders without a server).
    pub fn new(id: impl Into<String>, fields: Fields) -> Entry {
        Entry {
            id: id.into(),
            fields,
        }
    }

    pub(crate) fn into_parts(self) -> (String, Fields) {
        (self.id, self.fields)
    }

    /// The entry ID (`<ms>-<seq>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every field/value pair, in stream order.
    pub fn fields(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.fields
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
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
    id: crate::ack::Id,
    deliveries: u64,
    link: Option<Arc<AckLink>>,
}

impl Ticket {
    pub(crate) fn new(id: crate::ack::Id, deliveries: u64, link: Arc<AckLink>) -> Ticket {
        Ticket {
            id,
            deliveries,
            link: Some(link),
        }
    }

    /// The entry ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times the group has delivered this entry, this delivery included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Marks the entry processed: its ID goes into the next batched `XACK`.
    pub fn ack(mut self) {
        if let Some(link) = self.link.take() {
            link.shared().ack(self.id.clone());
        }
    }

    /// Gives the entry back without acknowledging it: it stays pending for redelivery.
    pub fn nack(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if let Some(link) = self.link.take() {
            link.shared().release(&self.id);
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
