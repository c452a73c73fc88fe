//! Process hardening shared by the CLI and the desktop app.

/// Disables core dumps (which would write the data key and decrypted pages to disk) and, on
/// Linux, marks the process non-dumpable so other processes of the same user cannot read its
/// memory through ptrace. Call first thing in `main`.
#[allow(unsafe_code)]
pub fn harden() {
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads a valid, initialised struct we own; it has no other effect
        // on memory.
        let limited = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
        if limited != 0 {
            tracing::warn!("could not disable core dumps");
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_SET_DUMPABLE takes plain integer arguments.
            let set = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            if set != 0 {
                tracing::warn!("could not mark the process non-dumpable");
            }
        }
    }
}
