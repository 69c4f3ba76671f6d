//! Stop requests from signals: SIGTERM (what Slurm sends at pre-emption or time-out, after the
//! `--signal` warning), SIGUSR1 (the usual pre-emption warning) and SIGINT (Ctrl-C). The
//! training loop checks [`stop_requested`] between steps, writes a checkpoint and stops, so the
//! trial resumes later with nothing lost.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

pub const SIGINT: i32 = 2;
pub const SIGUSR1: i32 = 10;
pub const SIGTERM: i32 = 15;

extern "C" fn on_signal(signum: i32) {
    // only async-signal-safe work here: two atomic stores
    SIGNAL.store(signum, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGTERM, SIGUSR1 and SIGINT to a stop request.
pub fn install() {
    #[cfg(unix)]
    {
        unsafe extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        for s in [SIGINT, SIGUSR1, SIGTERM] {
            unsafe {
                signal(s, on_signal as extern "C" fn(i32) as usize);
            }
        }
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The signal that asked to stop (0 if none).
pub fn stop_signal() -> i32 {
    SIGNAL.load(Ordering::SeqCst)
}

/// For tests and tools that stop the loop without a signal.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
