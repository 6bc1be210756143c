//! CPU time of this process, for `cpu_ms`: with a CPU adapter (lavapipe runs in the process) a
//! measure that other load on the machine disturbs far less than wall time.

/// User plus system CPU time of this process, all threads, in ms: `getrusage(RUSAGE_SELF)` on
/// Unix with the `cli` feature (the command line's libc), else `None`.
#[cfg(all(unix, feature = "cli"))]
pub fn process_cpu_ms() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes the whole struct when it returns 0, and we read it only then.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Some(ms(usage.ru_utime) + ms(usage.ru_stime))
}

/// `None`: no portable way to read it without libc.
#[cfg(not(all(unix, feature = "cli")))]
pub fn process_cpu_ms() -> Option<f64> {
    None
}
