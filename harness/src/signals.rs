//! Stop requests from signals: SIGTERM (what Slurm sends at pre-emption or time-out, after the
//! `--signal` warning), SIGUSR1 (the usual pre-emption warning) and SIGINT (Ctrl-C). The
//! training loop checks [`stop_requested`] between steps, writes a checkpoint and stops, so the
//! trial resumes later with nothing lost. The handlers are `signal-hook`'s, and the signal
//! numbers `libc`'s (they differ between platforms: SIGUSR1 is 10 on Linux, 30 on macOS).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The signal that asked to stop, 0 while none has.
static SIGNAL: AtomicUsize = AtomicUsize::new(0);

/// The signals that ask a training run to checkpoint and stop.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGUSR1, libc::SIGTERM];

/// Routes SIGTERM, SIGUSR1 and SIGINT to a stop request. An error (a signal the platform
/// forbids handling) is reported and leaves that signal's default action in place.
pub fn install() {
    for s in STOP_SIGNALS {
        if let Err(e) = signal_hook::flag::register_usize(s, &SIGNAL, s as usize) {
            eprintln!("warning: cannot handle signal {s}: {e}; it will end the process at once");
        }
    }
}

/// True once a stop signal has arrived.
pub fn stop_requested() -> bool {
    stop_signal() != 0
}

/// The signal that asked to stop (0 if none).
pub fn stop_signal() -> i32 {
    SIGNAL.load(Ordering::SeqCst) as i32
}

/// Restores SIGPIPE's default action, so that, like other command-line tools, the binary ends
/// quietly when the reader of its output goes away (`clipscale models | head`) instead of
/// failing on a broken pipe.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code and touches no
    // memory of ours; it is done at start-up before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
