//! Keeping secrets in memory from leaking out of the process.
//!
//! A core dump writes the whole address space to disk, unlocked data keys and all, where
//! no encryption at rest covers it. Marking the process non-dumpable on Linux also stops
//! other processes of the same user from attaching a debugger or reading its memory
//! through `/proc`.

use rustix::process::{Resource, Rlimit, setrlimit};

/// Turn core dumps off for this process. Returns whether every step succeeded; failures
/// are logged and otherwise ignored, because chinwag still works without them.
pub fn harden_process() -> bool {
    let mut hardened = true;
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(error) = setrlimit(Resource::Core, none) {
        tracing::warn!(%error, "could not turn core dumps off");
        hardened = false;
    }
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(%error, "could not mark the process non-dumpable");
        hardened = false;
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
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
