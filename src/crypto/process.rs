//! Keeping secrets in memory from leaking out of the process.
//!
//! A core dump writes the whole address space to disk, unlocked data keys and all, where
//! no encryption at rest covers it. Marking the process non-dumpable on Linux also stops
//! other processes of the same user from attaching a debugger or reading its memory
//! through `/proc`.

/// Turn core dumps off for this process. Returns whether every step succeeded; failures
/// are logged and otherwise ignored, because chinwag still works without them.
pub fn harden_process() -> bool {
    let mut hardened = true;
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct we pass by reference and keeps no pointer to it;
        // lowering a limit needs no privilege and affects only this process.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raw const none) } != 0 {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, "could not turn core dumps off");
            hardened = false;
        }
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours;
        // the unused variadic slots are passed as zero at the width the kernel reads.
        let off: libc::c_ulong = 0;
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, off, off, off, off) } != 0 {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, "could not mark the process non-dumpable");
            hardened = false;
        }
    }
    hardened
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn core_dumps_are_off_afterwards() {
        // Harmless for the test binary: it only loses the ability to dump core.
        assert!(super::harden_process());
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into the struct we own and keeps no pointer to it.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_CORE, &raw mut limit) },
            0
        );
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        // SAFETY: PR_GET_DUMPABLE takes no arguments and returns the flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0);
    }
}
