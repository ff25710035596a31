//! Where a password can come from without the editor asking: `CHINWAG_PASSWORD`, or the
//! `password_command` in the config (e.g. `pass show chinwag`).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group};

use zeroize::Zeroizing;

/// The environment variable holding the vault password.
pub const PASSWORD_ENV: &str = "CHINWAG_PASSWORD";

/// How long the password command may run (it may ask for a GPG passphrase).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The password from the environment, if set and non-empty.
pub fn from_env() -> Option<Zeroizing<String>> {
    std::env::var(PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new)
}

/// Run `command` with `sh -c` and take the first line of its output as the password.
/// Errors never include the output.
pub fn from_command(command: &str) -> Result<Zeroizing<String>, String> {
    from_command_within(command, COMMAND_TIMEOUT)
}

/// How long output may still come after the command exited, when its stdout is still open
/// (held by something it started in the background) and no full line has come yet.
const AFTER_EXIT_GRACE: Duration = Duration::from_millis(200);

/// The most output read from the command: a password is one short line.
const MAX_OUTPUT: usize = 64 * 1024;

/// [`from_command`] with its time limit. The command runs in a process group of its own,
/// and the whole group is killed when the command has exited and its line was read, or when
/// `timeout` passes: a background child that keeps stdout open (`pass` starting an agent
/// without detaching, `cmd &`) can neither stall the unlock nor outlive it.
pub fn from_command_within(command: &str, timeout: Duration) -> Result<Zeroizing<String>, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot run the password command: {error}"))?;
    let group = Pid::from_child(&child);
    let outcome = match child.stdout.take() {
        Some(mut stdout) => read_output(&mut child, &mut stdout, Instant::now() + timeout),
        None => Err(Failure::Other("no stdout from the password command".into())),
    };
    // Whatever happened, nothing the command started stays behind. The group outlives the
    // shell while any member is alive, so its id cannot have been reused.
    let _ = kill_process_group(group, Signal::KILL);
    let _ = child.wait();
    let (status, output) = outcome.map_err(|failure| match failure {
        Failure::Timeout => format!(
            "the password command did not finish within {} s",
            timeout.as_secs_f32()
        ),
        Failure::Other(message) => message,
    })?;
    if !status.success() {
        return Err(format!("the password command failed ({status})"));
    }
    let text =
        std::str::from_utf8(&output).map_err(|_| "the password command printed non-UTF-8")?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err("the password command printed nothing".into());
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// Why the output could not be read.
enum Failure {
    Timeout,
    Other(String),
}

/// Read the command's output until it has exited and either closed stdout or printed a
/// whole line (or [`AFTER_EXIT_GRACE`] passed), all before `deadline`.
fn read_output(
    child: &mut Child,
    stdout: &mut ChildStdout,
    deadline: Instant,
) -> Result<(ExitStatus, Zeroizing<Vec<u8>>), Failure> {
    let mut output = Zeroizing::new(Vec::new());
    let mut chunk = Zeroizing::new([0u8; 4096]);
    let mut closed = false;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        if exited.is_none() {
            match child.try_wait() {
                Ok(Some(status)) => exited = Some((status, Instant::now())),
                Ok(None) => {}
                Err(error) => {
                    return Err(Failure::Other(format!(
                        "waiting for the password command: {error}"
                    )));
                }
            }
        }
        if let Some((status, at)) = exited
            && (closed || output.contains(&b'\n') || at.elapsed() >= AFTER_EXIT_GRACE)
        {
            return Ok((status, output));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Timeout);
        }
        let wait = (deadline - now).min(POLL_INTERVAL);
        if closed {
            std::thread::sleep(wait);
            continue;
        }
        let timespec = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        });
        let mut fds = [PollFd::new(&*stdout, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(error) => {
                return Err(Failure::Other(format!(
                    "reading the password command: {error}"
                )));
            }
        }
        // Readable (or hung up): this read does not block.
        match stdout.read(&mut chunk[..]) {
            Ok(0) => closed = true,
            Ok(read) => {
                output.extend_from_slice(&chunk[..read]);
                if output.len() >= MAX_OUTPUT {
                    closed = true;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(Failure::Other(format!(
                    "reading the password command: {error}"
                )));
            }
        }
    }
}

/// How often the command's state is checked while nothing arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_of_the_command_is_the_password() {
        assert_eq!(
            from_command("printf 'hunter22\\nextra\\n'")
                .unwrap()
                .as_str(),
            "hunter22"
        );
        assert!(from_command("exit 3").unwrap_err().contains("failed"));
        assert!(from_command("true").unwrap_err().contains("nothing"));
    }

    #[test]
    fn a_background_child_holding_stdout_neither_stalls_nor_survives() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-alive");
        // The child would touch the marker after 2 s if it were not killed with the group.
        let command = format!(
            "printf 'hunter22\\n'; (sleep 2; touch '{}') & exit 0",
            marker.display()
        );
        let started = Instant::now();
        let password = from_command_within(&command, Duration::from_secs(10)).unwrap();
        assert_eq!(password.as_str(), "hunter22");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            !marker.exists(),
            "the background child outlived the command"
        );
    }

    #[test]
    fn a_command_that_hangs_is_killed_at_the_deadline() {
        let started = Instant::now();
        let error = from_command_within("sleep 30", Duration::from_millis(300)).unwrap_err();
        assert!(error.contains("did not finish"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Exited but stdout held open with nothing printed: answered after a short grace.
        let started = Instant::now();
        let error = from_command_within("sleep 30 & exit 0", Duration::from_secs(10)).unwrap_err();
        assert!(error.contains("nothing"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
