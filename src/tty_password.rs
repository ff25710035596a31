//! Asking for the vault password on a terminal, without echo, for `chinwag chat`: the only
//! command that runs where a person may be typing. The server never prompts (its stdin is
//! the protocol).

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::fd::AsFd;

use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use zeroize::Zeroizing;

/// Where the password can be typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// stdin is the terminal: read it there.
    Stdin,
    /// stdin is piped (context for the question) but a person watches stderr: read the
    /// controlling terminal.
    ControllingTerminal,
    /// No terminal at all (a script, an editor): the password must come another way.
    None,
}

impl Source {
    /// Decide from what is a terminal.
    pub fn choose(stdin_is_terminal: bool, stderr_is_terminal: bool) -> Source {
        match (stdin_is_terminal, stderr_is_terminal) {
            (true, _) => Source::Stdin,
            (false, true) => Source::ControllingTerminal,
            (false, false) => Source::None,
        }
    }

    /// The source for this process.
    pub fn current() -> Source {
        Source::choose(
            std::io::stdin().is_terminal(),
            std::io::stderr().is_terminal(),
        )
    }
}

/// Why no password could be read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read the password from the terminal: {0}")]
    Io(#[from] std::io::Error),
    #[error("no password was typed")]
    Empty,
}

/// Print `prompt` on stderr and read one line with echo off from `source`. None when
/// `source` is [`Source::None`].
pub fn ask(source: Source, prompt: &str) -> Result<Option<Zeroizing<String>>, PromptError> {
    let mut line = Zeroizing::new(String::new());
    match source {
        Source::None => return Ok(None),
        Source::Stdin => {
            let stdin = std::io::stdin();
            let _echo = EchoOff::new(stdin.as_fd(), prompt)?;
            stdin.lock().read_line(&mut line)?;
        }
        Source::ControllingTerminal => {
            let tty = File::options().read(true).write(true).open("/dev/tty")?;
            let _echo = EchoOff::new(tty.as_fd(), prompt)?;
            BufReader::new(&tty).read_line(&mut line)?;
        }
    }
    let password = Zeroizing::new(without_line_end(&line).to_string());
    if password.is_empty() {
        return Err(PromptError::Empty);
    }
    Ok(Some(password))
}

/// The typed line without its `\n` or `\r\n`.
pub fn without_line_end(line: &str) -> &str {
    line.strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(line)
}

/// Echo is off while this lives (the newline still shows), and the terminal's settings are
/// restored when it drops, error or not.
struct EchoOff<Fd: AsFd> {
    fd: Fd,
    saved: Termios,
}

impl<Fd: AsFd> EchoOff<Fd> {
    fn new(fd: Fd, prompt: &str) -> std::io::Result<Self> {
        let saved = tcgetattr(&fd)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        // `Now`, not `Flush`: a password typed ahead of the prompt is kept, not dropped.
        tcsetattr(&fd, OptionalActions::Now, &quiet)?;
        let mut stderr = std::io::stderr();
        let _ = stderr.write_all(prompt.as_bytes());
        let _ = stderr.flush();
        Ok(EchoOff { fd, saved })
    }
}

impl<Fd: AsFd> Drop for EchoOff<Fd> {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_only_where_a_person_can_type() {
        assert_eq!(Source::choose(true, false), Source::Stdin);
        assert_eq!(Source::choose(true, true), Source::Stdin);
        assert_eq!(Source::choose(false, true), Source::ControllingTerminal);
        assert_eq!(Source::choose(false, false), Source::None);
        assert!(matches!(ask(Source::None, "Password: "), Ok(None)));
    }

    #[test]
    fn the_line_end_is_not_part_of_the_password() {
        assert_eq!(without_line_end("hunter2 \n"), "hunter2 ");
        assert_eq!(without_line_end("pw\r\n"), "pw");
        assert_eq!(without_line_end("pw"), "pw");
    }
}
