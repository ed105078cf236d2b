//! Group `hop_barrier` (a probe for issue #13, not a library feature): why the single-producer
//! Disruptor with a busy-spinning consumer stays ahead of an `Emitter`, measured rather than
//! argued.
//!
//! A consumer that may park needs a StoreLoad barrier on the producer's side of every hand-off:
//! the producer publishes, then looks whether the consumer announced that it parks; without the
//! barrier the look can pass the publication and a wake-up is lost. An `Emitter` gets that
//! barrier from its claim (a read-modify-write: it is multi-producer by type); the Disruptor's
//! single producer has none to pay, because its consumer never parks (it burns its core while
//! idle). This bench times one producer thread handing 1M `u64` to one consumer through
//! backflow's spsc ring (1024 slots), the consumer spinning ~40 µs and then parking on a condvar
//! after announcing it, in three variants against the Disruptor's single-producer busy-spin ring,
//! in alternating pairs (`benches/support/paired.rs`):
//!
//! - `spsc_fence`: the producer pays `fence(SeqCst)` per item (what every parking hand-off without
//!   a read-modify-write pays today, `crate::wait::Parker::notify`);
//! - `spsc_asymmetric`: the producer pays a compiler fence only, and the consumer, once per park,
//!   a process-wide barrier (Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, the
//!   "asymmetric fence" of folly and liburcu): either the producer's publication is visible to
//!   the consumer's look after that barrier, or the producer's look comes after it and sees the
//!   announcement;
//! - `vyukov_asymmetric`: the same with a per-slot-stamp ring (the `Emitter`'s design) whose one
//!   producer claims positions with a counter of its own, no shared tail: what that ring would give
//!   a single-producer handle.
//!
//! Linux only (elsewhere it says so and exits). `BACKFLOW_HOP_BARRIER_PAIRS=N` sets the pairs
//! (default 12); `BACKFLOW_BENCH_LOAD=2` runs two busy threads alongside (PERF.md's loaded
//! condition). Run: `cargo bench --bench hop_barrier`.

mod support;

#[cfg(target_os = "linux")]
mod probe {
    use std::cell::UnsafeCell;
    use std::hint::spin_loop;
    use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use backflow::queue::spsc;
    use crossbeam_utils::CachePadded;

    use super::support;

    pub const ITEMS: u64 = 1_000_000;
    const CAPACITY: usize = 1024;
    /// How long the consumer spins on an empty ring before it announces that it parks.
    const SPIN_FOR: Duration = Duration::from_micros(40);

    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    /// Registers the process for expedited membarriers; `false` where the kernel refuses.
    pub fn register() -> bool {
        // SAFETY: membarrier takes integer arguments only and touches no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            ) == 0
        }
    }

    /// The heavy side: every running thread of the process passes a full barrier.
    fn heavy() {
        // SAFETY: as in `register`; the process registered before any probe ran.
        let done =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        assert_eq!(done, 0, "membarrier failed after registering");
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Barrier {
        Fence,
        Asymmetric,
    }

    impl Barrier {
        /// The producer's barrier between its publication and its look at `parked`.
        #[inline(always)]
        fn light(self) {
            match self {
                Barrier::Fence => fence(Ordering::SeqCst),
                Barrier::Asymmetric => compiler_fence(Ordering::SeqCst),
            }
        }

        /// The consumer's barrier between its announcement and its last look.
        fn heavy(self) {
            match self {
                Barrier::Fence => fence(Ordering::SeqCst),
                Barrier::Asymmetric => heavy(),
            }
        }
    }

    /// Where the consumer parks.
    struct Wake {
        parked: CachePadded<AtomicBool>,
        lock: Mutex<()>,
        condvar: Condvar,
        finished: AtomicBool,
    }

    impl Wake {
        fn new() -> Arc<Wake> {
            Arc::new(Wake {
                parked: CachePadded::new(AtomicBool::new(false)),
                lock: Mutex::new(()),
                condvar: Condvar::new(),
                finished: AtomicBool::new(false),
            })
        }

        /// Producer side, after a publication.
        #[inline(always)]
        fn notify(&self, barrier: Barrier) {
            barrier.light();
            if self.parked.load(Ordering::Relaxed) {
                let _lock = self.lock.lock().unwrap();
                self.condvar.notify_one();
            }
        }

        /// Producer side, at the end.
        fn finish(&self, barrier: Barrier) {
            self.finished.store(true, Ordering::Release);
            self.notify(barrier);
        }

        /// Consumer side, on an empty ring: spin, then announce, look once more, park.
        fn wait(&self, barrier: Barrier, mut ready: impl FnMut() -> bool) {
            let start = Instant::now();
            let mut step = 0u32;
            loop {
                if ready() {
                    return;
                }
                step += 1;
                if step < 8 {
                    for _ in 0..1u32 << step {
                        spin_loop();
                    }
                } else if start.elapsed() < SPIN_FOR {
                    thread::yield_now();
                } else {
                    break;
                }
            }
            let lock = self.lock.lock().unwrap();
            self.parked.store(true, Ordering::Relaxed);
            barrier.heavy();
            let lock = if ready() || self.finished.load(Ordering::Acquire) {
                lock
            } else {
                self.condvar.wait(lock).unwrap()
            };
            self.parked.store(false, Ordering::Relaxed);
            drop(lock);
        }
    }

    /// A producer that finds the ring full spins, then yields (it is never what is measured here:
    /// the consumer keeps up).
    #[inline(always)]
    fn full_wait(tries: &mut u32) {
        *tries += 1;
        if *tries < 128 {
            spin_loop();
        } else {
            thread::yield_now();
        }
    }

    fn spsc_hop(barrier: Barrier) -> u64 {
        let (mut producer, mut consumer) = spsc::channel::<u64>(CAPACITY);
        let wake = Wake::new();
        let waker = wake.clone();
        thread::scope(|scope| {
            scope.spawn(move || {
                for i in 0..ITEMS {
                    let (mut item, mut tries) = (i, 0);
                    while let Err(full) = producer.push(item) {
                        item = full.into_inner();
                        full_wait(&mut tries);
                    }
                    waker.notify(barrier);
                }
                waker.finish(barrier);
            });
            let (mut sum, mut received) = (0u64, 0u64);
            while received < ITEMS {
                let chunk = consumer.read_chunk_up_to(usize::MAX);
                if chunk.is_empty() {
                    drop(chunk);
                    wake.wait(barrier, || !consumer.is_empty());
                    continue;
                }
                received += chunk.len() as u64;
                sum = chunk.fold(sum, u64::wrapping_add);
            }
            sum
        })
    }

    struct Slot {
        /// `p`: free for position `p`; `p + 1`: holds position `p`.
        stamp: AtomicU64,
        value: UnsafeCell<u64>,
    }

    /// The slots only: with one producer the claim is its own counter, and the consumer reads
    /// the stamps, never a shared tail.
    struct Vyukov {
        slots: Box<[Slot]>,
    }

    // SAFETY: each value cell is written by the one producer only while its stamp says free, and
    // read by the one consumer only while its stamp says full; the stamps' Release stores and
    // Acquire loads order the accesses.
    unsafe impl Sync for Vyukov {}

    fn vyukov_hop(barrier: Barrier) -> u64 {
        let capacity = CAPACITY as u64;
        let ring = Vyukov {
            slots: (0..capacity)
                .map(|i| Slot {
                    stamp: AtomicU64::new(i),
                    value: UnsafeCell::new(0),
                })
                .collect(),
        };
        let ring = &ring;
        let slot = move |position: u64| &ring.slots[(position % capacity) as usize];
        let wake = Wake::new();
        let waker = wake.clone();
        thread::scope(|scope| {
            scope.spawn(move || {
                // Item `i` goes to position `i`: the producer's claim is its loop counter.
                for i in 0..ITEMS {
                    let (tail, mut tries) = (i, 0);
                    while slot(tail).stamp.load(Ordering::Acquire) != tail {
                        full_wait(&mut tries);
                    }
                    // SAFETY: the stamp says the consumer is done with this cell, and this thread
                    // is the only producer.
                    unsafe { *slot(tail).value.get() = i };
                    slot(tail).stamp.store(tail + 1, Ordering::Release);
                    waker.notify(barrier);
                }
                waker.finish(barrier);
            });
            let (mut sum, mut head) = (0u64, 0u64);
            let ready = |head: u64| slot(head).stamp.load(Ordering::Acquire) == head + 1;
            while head < ITEMS {
                if !ready(head) {
                    wake.wait(barrier, || ready(head));
                    continue;
                }
                // SAFETY: the stamp says the producer wrote this cell and will not touch it
                // until it is stamped free below.
                sum = sum.wrapping_add(unsafe { *slot(head).value.get() });
                slot(head).stamp.store(head + capacity, Ordering::Release);
                head += 1;
            }
            sum
        })
    }

    pub fn spsc_fence() -> u64 {
        spsc_hop(Barrier::Fence)
    }

    pub fn spsc_asymmetric() -> u64 {
        spsc_hop(Barrier::Asymmetric)
    }

    pub fn vyukov_asymmetric() -> u64 {
        vyukov_hop(Barrier::Asymmetric)
    }

    pub fn disruptor() -> u64 {
        support::disruptor_busy_spin(ITEMS, CAPACITY)
    }
}

#[cfg(target_os = "linux")]
fn hop_barrier() {
    use support::paired::{pairing, pairs_from_env, run, Workload};
    if !support::paired::enabled(|f| f.contains("hop_barrier")) {
        return;
    }
    if !probe::register() {
        eprintln!(
            "hop_barrier: this kernel refuses membarrier(REGISTER_PRIVATE_EXPEDITED); skipped"
        );
        return;
    }
    let items = probe::ITEMS;
    let work = Workload {
        items,
        expected: items * (items - 1) / 2,
    };
    run(
        "hop_barrier",
        pairs_from_env("BACKFLOW_HOP_BARRIER_PAIRS", 12),
        work,
        &[
            pairing(
                "spsc_fence",
                "disruptor",
                probe::spsc_fence,
                probe::disruptor,
            ),
            pairing(
                "spsc_asymmetric",
                "disruptor",
                probe::spsc_asymmetric,
                probe::disruptor,
            ),
            pairing(
                "spsc_asymmetric_vs_fence",
                "spsc-fence",
                probe::spsc_asymmetric,
                probe::spsc_fence,
            ),
            pairing(
                "vyukov_asymmetric",
                "disruptor",
                probe::vyukov_asymmetric,
                probe::disruptor,
            ),
        ],
    );
}

#[cfg(not(target_os = "linux"))]
fn hop_barrier() {
    eprintln!("hop_barrier: Linux only (membarrier); skipped");
}

fn main() {
    let _load = support::Load::from_env();
    hop_barrier();
}
