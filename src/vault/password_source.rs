//! Where a password can come from without the editor asking: `CHINWAG_PASSWORD`, or the
//! `password_command` in the config (e.g. `pass show chinwag`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run the password command: {error}"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or("no stdout from the password command")?;
    let reader = std::thread::spawn(move || {
        let mut output = Zeroizing::new(Vec::new());
        let _ = stdout.read_to_end(&mut output);
        output
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the password command did not finish within {} s",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(error) => return Err(format!("waiting for the password command: {error}")),
        }
    };
    let output = reader.join().unwrap_or_default();
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
}
