//! The crate's error types, named after what fails.
//!
//! [`Error`] is what travels through `on_error`: cheap to clone (one `Arc`), `Send + Sync`, and it
//! says what went wrong through [`ErrorKind`]. Errors that hand a value back to its owner (a rejected
//! push, a closed emitter) carry the value and give it back with `into_inner`; their `Debug` does not
//! require `T: Debug`.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What kind of failure an [`Error`] reports.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `request(0)` was called: Reactive Streams rule 3.9.
    InvalidDemand,
    /// A stage received more items than it could hold or had requested (missing backpressure).
    Overflow,
    /// User code (a closure or a subscriber) panicked; the stage turned the panic into this error.
    Panicked,
    /// An `Enforcing` throttle saw items arrive faster than its rate.
    RateExceeded,
    /// Nothing arrived within a deadline.
    Timeout,
    /// An operation was rejected by a resilience policy (breaker open, load shed, bulkhead full).
    Rejected,
    /// A retry policy gave up; the last error is the source.
    RetryExhausted,
    /// The stage was closed or cancelled before the operation could complete.
    Closed,
    /// An error raised by user code (`try_map`, `Flux::error`, `Error::custom`).
    Custom,
}

/// The error a stream terminates with (`on_error`).
///
/// Clones share one allocation, so fan-out stages can hand the same error to every subscriber.
///
/// ```
/// use backflow::{Error, ErrorKind};
///
/// let e = Error::msg("disk full");
/// assert_eq!(e.kind(), ErrorKind::Custom);
/// assert_eq!(e.to_string(), "disk full");
///
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "boom");
/// let e = Error::custom(io);
/// assert!(e.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    fn build(
        kind: ErrorKind,
        message: String,
        retry_after: Option<Duration>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                message,
                retry_after,
                source,
            }),
        }
    }

    /// An error of the given kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::build(kind, message.into(), None, None)
    }

    /// A user error with just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Custom, message)
    }

    /// Wraps any error type as a [`ErrorKind::Custom`] error; get it back with [`Error::downcast_ref`].
    pub fn custom<E: std::error::Error + Send + Sync + 'static>(error: E) -> Self {
        Self::build(
            ErrorKind::Custom,
            error.to_string(),
            None,
            Some(Box::new(error)),
        )
    }

    /// Rule 3.9: `request(n)` with `n == 0`.
    pub fn invalid_demand() -> Self {
        Self::new(
            ErrorKind::InvalidDemand,
            "invalid demand: request(0) violates Reactive Streams rule 3.9 (n must be > 0)",
        )
    }

    /// A stage received more than it requested or can hold; `stage` names it.
    pub fn overflow(stage: &str) -> Self {
        Self::new(
            ErrorKind::Overflow,
            format!("overflow in {stage}: received more items than requested or than it can hold (missing backpressure)"),
        )
    }

    /// Turns a caught panic payload into an error; `place` says whose code panicked.
    pub fn panicked(place: &str, payload: Box<dyn Any + Send>) -> Self {
        let what = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        };
        Self::new(ErrorKind::Panicked, format!("panic in {place}: {what}"))
    }

    /// A timeout error.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// An error carrying a hint of when a retry may succeed.
    pub fn with_retry_after(
        kind: ErrorKind,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::build(kind, message.into(), retry_after, None)
    }

    /// An error of `kind` that wraps `source` as its cause.
    pub fn with_source(kind: ErrorKind, message: impl Into<String>, source: Error) -> Self {
        Self::build(kind, message.into(), None, Some(Box::new(source)))
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// When a retry may succeed, if the failing stage knows (token-bucket deficit, breaker open time).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The wrapped error of type `E`, if this error wraps one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.source.as_ref()?.downcast_ref::<E>()
    }

    /// Whether `self` and `other` are clones of the same error.
    pub fn ptr_eq(&self, other: &Error) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(r) = self.inner.retry_after {
            d.field("retry_after", &r);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

type Hook = Arc<dyn Fn(&Error) + Send + Sync>;
static ERROR_HOOK: parking_lot::RwLock<Option<Hook>> = parking_lot::RwLock::new(None);

/// Installs the hook that receives errors nobody downstream can take any more.
///
/// Rule 2.13: a subscriber that panics is treated as cancelled, and its panic must be reported, never
/// swallowed. When there is no live downstream to signal (the panicking code *is* the subscriber, or
/// it panicked again in `on_error`), the error goes here. Without a hook it is printed to stderr.
/// This is Reactor's `Hooks.onErrorDropped` / RxJava's `RxJavaPlugins.setErrorHandler`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// backflow::set_error_hook(move |e| s.lock().unwrap().push(e.to_string()));
/// # backflow::clear_error_hook();
/// ```
pub fn set_error_hook(hook: impl Fn(&Error) + Send + Sync + 'static) {
    *ERROR_HOOK.write() = Some(Arc::new(hook));
}

/// Removes the hook installed by [`set_error_hook`]; errors go to stderr again.
pub fn clear_error_hook() {
    *ERROR_HOOK.write() = None;
}

/// Reports an error that has no downstream left to receive it.
pub(crate) fn report_undeliverable(error: &Error) {
    let hook = ERROR_HOOK.read().clone();
    match hook {
        Some(hook) => {
            // A panicking hook must not unwind into a drain loop either.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(error)));
        }
        None => eprintln!("backflow: undeliverable error: {error}"),
    }
}

// ---- hand-back errors: the value travels back to its owner ----

// ---- queue errors (issue 3) ----

/// A value the ring could not take because it was full; the value comes back with it.
///
/// ```
/// use backflow::error::PushError;
/// use backflow::queue::spsc;
///
/// let (mut producer, _consumer) = spsc::channel(1);
/// producer.push("a").unwrap();
/// let err = producer.push("b").unwrap_err();
/// assert_eq!(err.to_string(), "ring is full");
/// assert_eq!(err.into_inner(), "b");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError<T> {
    /// Every slot was taken when the push was tried.
    Full(T),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(value) => value,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("ring is full"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// A chunk of `n` slots was asked for and fewer were available (the count that was).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkError {
    /// Only this many slots (free ones to write, or filled ones to read) were available.
    TooFewSlots(usize),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::TooFewSlots(n) => write!(f, "too few slots: only {n} available"),
        }
    }
}

impl std::error::Error for ChunkError {}

// ---- emitter / resilience errors (issue 4) ----

/// An item an [`Emitter`](crate::source::Emitter) did not take, handed back to the producer.
///
/// Match on the variant to learn why, or call [`into_inner`](Self::into_inner) to get the item
/// back whatever the reason. `Debug` does not need `T: Debug` (the item is shown as `..`).
///
/// ```
/// use backflow::error::EmitError;
///
/// let (emitter, _flux) = backflow::emitter::<String>(1);
/// emitter.try_emit("a".to_string()).unwrap(); // buffered: nobody has subscribed yet
/// let err = emitter.try_emit("b".to_string()).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.to_string(), "emitter is full");
/// assert_eq!(format!("{err:?}"), "Full { retry_after: None, .. }");
/// assert_eq!(err.into_inner(), "b");
/// ```
pub enum EmitError<T> {
    /// Every slot was taken and the subscriber had no demand left (reject, fail fast).
    Full {
        /// The item that was not taken.
        item: T,
        /// When about one slot should have freed up, judged from how fast the subscriber took
        /// items lately; `None` when there is no recent rate to judge from.
        retry_after: Option<Duration>,
    },
    /// No slot freed up before the deadline of [`emit_timeout`](crate::source::Emitter::emit_timeout).
    Timeout(T),
    /// The stream is over: the subscriber cancelled, or the emitter completed or failed. No later
    /// item will be taken.
    Closed(T),
}

impl<T> EmitError<T> {
    /// The item that was not taken.
    pub fn into_inner(self) -> T {
        match self {
            EmitError::Full { item, .. } | EmitError::Timeout(item) | EmitError::Closed(item) => {
                item
            }
        }
    }

    /// The item that was not taken, by reference.
    pub fn item(&self) -> &T {
        match self {
            EmitError::Full { item, .. } | EmitError::Timeout(item) | EmitError::Closed(item) => {
                item
            }
        }
    }

    /// The retry hint of a [`Full`](EmitError::Full) refusal; `None` for the other variants.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EmitError::Full { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the emitter was full.
    pub fn is_full(&self) -> bool {
        matches!(self, EmitError::Full { .. })
    }

    /// Whether the deadline passed first.
    pub fn is_timeout(&self) -> bool {
        matches!(self, EmitError::Timeout(_))
    }

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        matches!(self, EmitError::Closed(_))
    }
}

impl<T> fmt::Debug for EmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Full { retry_after, .. } => f
                .debug_struct("Full")
                .field("retry_after", retry_after)
                .finish_non_exhaustive(),
            EmitError::Timeout(_) => f.write_str("Timeout(..)"),
            EmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for EmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::Full { .. } => "emitter is full",
            EmitError::Timeout(_) => "timed out waiting for room in the emitter",
            EmitError::Closed(_) => "emitter is closed",
        })
    }
}

impl<T> std::error::Error for EmitError<T> {}

// ---- resilience errors (issue 9) ----

/// An offer a resilience policy refused (a rate limiter out of tokens, an open circuit breaker, a
/// full bulkhead, a load shedder), with the item handed back and, where the policy knows, when a
/// retry may succeed.
///
/// `retry_after` comes from the policy's own state: a rate limiter's exact deficit, a breaker's
/// remaining open time, a bulkhead's expected release. `None` means the policy cannot say (or, for
/// a rate limiter asked for more than its burst, that no wait will do). `Debug` does not need
/// `T: Debug`.
///
/// ```
/// use std::time::Duration;
/// use backflow::error::Rejected;
/// use backflow::ErrorKind;
///
/// let r = Rejected::new("order-17", Some(Duration::from_millis(30)));
/// assert_eq!(r.to_string(), "rejected: retry after 30ms");
/// assert_eq!(format!("{r:?}"), "Rejected { retry_after: Some(30ms), .. }");
/// let e = r.to_error();
/// assert_eq!((e.kind(), e.retry_after()), (ErrorKind::Rejected, Some(Duration::from_millis(30))));
/// assert_eq!(r.into_inner(), "order-17");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Rejected<T = ()> {
    /// When a retry may succeed, if the policy knows.
    pub retry_after: Option<Duration>,
    /// The item that was not admitted, handed back.
    pub item: T,
}

impl<T> Rejected<T> {
    /// A refusal of `item`, with a hint.
    pub fn new(item: T, retry_after: Option<Duration>) -> Self {
        Rejected { retry_after, item }
    }

    /// The item that was not admitted.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// The same refusal carrying another item (the policy refused a permit; the caller hands back
    /// what the permit was for).
    pub fn with_item<U>(self, item: U) -> Rejected<U> {
        Rejected {
            retry_after: self.retry_after,
            item,
        }
    }

    /// The refusal as a stream [`Error`] of kind [`ErrorKind::Rejected`] carrying `retry_after`
    /// (the item stays here).
    pub fn to_error(&self) -> Error {
        Error::with_retry_after(ErrorKind::Rejected, self.to_string(), self.retry_after)
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(after) => write!(f, "rejected: retry after {after:?}"),
            None => f.write_str("rejected"),
        }
    }
}

impl<T> std::error::Error for Rejected<T> {}

impl Error {
    /// A retry policy gave up: an [`ErrorKind::RetryExhausted`] error whose
    /// [`source`](std::error::Error::source) is `last`, the error of the last attempt (its
    /// `retry_after` is kept).
    pub fn retry_exhausted(attempts: u64, last: Error) -> Self {
        let retry_after = last.retry_after();
        Self::build(
            ErrorKind::RetryExhausted,
            format!("retry exhausted after {attempts} attempts: {last}"),
            retry_after,
            Some(Box::new(last)),
        )
    }

    /// The error of the last attempt, if this is a [`RetryExhausted`](ErrorKind::RetryExhausted)
    /// error (or any error wrapping a backflow [`Error`] as its source).
    pub fn last(&self) -> Option<&Error> {
        self.downcast_ref::<Error>()
    }
}
