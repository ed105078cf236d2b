//! The conformance verifier over the `Emitter` push source: one test per rule.
//!
//! Two factories: items buffered before the subscriber arrives (signals only inside
//! subscribe/request/cancel), and a producer thread that emits as demand allows (signals on the
//! producer's thread), the latter also through the one-producer handle (`SingleEmitter`). An
//! emitter is unicast: later subscribers are rejected.

#[macro_use]
mod tck_common;

use std::thread;
use std::time::Duration;

use backflow::tck::PublisherOptions;
use backflow::Error;

/// `n` items already buffered, then completion.
fn buffered(n: u64) -> backflow::Flux<backflow::source::EmitterSource<u64>> {
    let (emitter, flux) = backflow::emitter(n.max(1) as usize);
    for i in 0..n {
        emitter.try_emit(i).unwrap();
    }
    emitter.complete();
    flux
}

/// A producer thread that emits `n` items (waiting for demand), then completes.
fn produced(n: u64) -> backflow::Flux<backflow::source::EmitterSource<u64>> {
    let (emitter, flux) = backflow::emitter(2);
    thread::spawn(move || {
        for i in 0..n {
            if emitter.emit(i).is_err() {
                return; // cancelled, or nobody will ever subscribe
            }
        }
        emitter.complete();
    });
    flux
}

fn failed() -> backflow::Flux<backflow::source::EmitterSource<u64>> {
    let (emitter, flux) = backflow::emitter(1);
    emitter.error(Error::msg("tck"));
    flux
}

publisher_tck!(
    emitter_buffered,
    buffered,
    PublisherOptions::default()
        .threaded(false)
        .single_subscriber(true)
        .max_elements(10_000)
        .failing_factory(failed)
);

publisher_tck!(
    emitter_producer_thread,
    produced,
    PublisherOptions::default()
        // A generous wait: the producer thread must be scheduled on a busy machine.
        .timeout(Duration::from_millis(500))
        .single_subscriber(true)
        .failing_factory(failed)
);

/// As [`produced`], through the one-producer handle (`Emitter::into_single`).
fn produced_single(n: u64) -> backflow::Flux<backflow::source::EmitterSource<u64>> {
    let (emitter, flux) = backflow::emitter(2);
    let single = emitter
        .into_single()
        .unwrap_or_else(|_| unreachable!("the only handle"));
    thread::spawn(move || {
        for i in 0..n {
            if single.emit(i).is_err() {
                return;
            }
        }
        single.complete();
    });
    flux
}

publisher_tck!(
    single_emitter_producer_thread,
    produced_single,
    PublisherOptions::default()
        .timeout(Duration::from_millis(500))
        .single_subscriber(true)
        .failing_factory(failed)
);
