//! git for context: the diff, which files a glob may see, which files git ignores.
//!
//! git runs directly (no shell), with its stdin closed, no pager, no prompt, and with the
//! repository's ways of running other programs turned off (`--no-ext-diff`, `--no-textconv`,
//! `core.fsmonitor`), so a repository the user opened cannot make chinwag run its code. Every
//! run has a deadline and a cap on what is read.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::ContextError;
use crate::config::ContextConfig;

/// `git diff` output, possibly cut at the cap.
pub struct Diff {
    pub text: String,
    pub cut: bool,
}

/// What one git run gave.
pub struct Output {
    pub stdout: Vec<u8>,
    /// More than the cap was written; `stdout` holds the first `cap` bytes.
    pub cut: bool,
}

/// Run git in `root` with `args`; `Ok(None)` when `root` is not in a repository (or git is
/// not installed), an error when git failed otherwise or ran past `timeout`.
pub async fn run(
    root: &Path,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    cap: u64,
) -> Result<Option<Output>, ContextError> {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.pager=cat",
            "-c",
            "diff.external=",
            "--no-pager",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_EXTERNAL_DIFF")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ContextError::Unavailable(format!(
                "cannot run git: {error}"
            )));
        }
    };
    let feed = child.stdin.take().zip(stdin).map(|(mut pipe, bytes)| {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(&bytes).await;
        })
    });
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ContextError::Unavailable("cannot read git's output".into()));
    };
    let work = async {
        let mut out = Vec::new();
        (&mut stdout).take(cap + 1).read_to_end(&mut out).await?;
        let cut = out.len() as u64 > cap;
        out.truncate(cap as usize);
        if cut {
            // Stop git: nothing more is read.
            let _ = child.start_kill();
        }
        let mut err = Vec::new();
        (&mut stderr).take(64 * 1024).read_to_end(&mut err).await?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((out, cut, err, status))
    };
    let (stdout, cut, stderr, status) = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            return Err(ContextError::Unavailable(format!("git failed: {error}")));
        }
        Err(_) => {
            return Err(ContextError::Unavailable(format!(
                "git did not finish within {} s (`[context] git_timeout_secs`)",
                timeout.as_secs()
            )));
        }
    };
    if let Some(feed) = feed {
        let _ = feed.await;
    }
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() && !cut {
        if stderr.contains("not a git repository") {
            return Ok(None);
        }
        let first = stderr.lines().next().unwrap_or("").trim();
        // check-ignore answers 1 when nothing is ignored: that is an answer, not a fault.
        if status.code() == Some(1) && first.is_empty() {
            return Ok(Some(Output { stdout, cut }));
        }
        return Err(ContextError::Unavailable(format!("git failed: {first}")));
    }
    Ok(Some(Output { stdout, cut }))
}

/// `git diff` (or `--cached`) in `root`, cut at `max_file_bytes`.
pub async fn diff(root: &Path, staged: bool, config: &ContextConfig) -> Result<Diff, ContextError> {
    let mut args = vec!["diff", "--no-ext-diff", "--no-textconv", "--no-color"];
    if staged {
        args.push("--cached");
    }
    let output = run(root, &args, None, config.git_timeout, config.max_file_bytes)
        .await?
        .ok_or_else(|| {
            ContextError::Unavailable(format!(
                "{} is not in a git repository (or git is not installed)",
                root.display()
            ))
        })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.cut {
        // Whole lines only.
        if let Some(end) = text.rfind('\n') {
            text.truncate(end + 1);
        }
    }
    Ok(Diff {
        text,
        cut: output.cut,
    })
}

/// The files git would show in `root` (tracked, and untracked but not ignored), relative to
/// it; `None` outside a repository.
pub async fn visible_files(
    root: &Path,
    config: &ContextConfig,
) -> Result<Option<Vec<String>>, ContextError> {
    let args = [
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "-z",
    ];
    // Names only: a large repository's list is a few MiB at most.
    let Some(output) = run(root, &args, None, config.git_timeout, 64 * 1024 * 1024).await? else {
        return Ok(None);
    };
    let mut files: Vec<String> = output
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| std::str::from_utf8(name).ok().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    Ok(Some(files))
}

/// Which of `paths` (relative to `root`) git ignores; empty outside a repository.
pub async fn ignored(
    root: &Path,
    paths: &[String],
    config: &ContextConfig,
) -> Result<Vec<String>, ContextError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut input = Vec::new();
    for path in paths {
        input.extend_from_slice(path.as_bytes());
        input.push(0);
    }
    let args = ["check-ignore", "--stdin", "-z"];
    let Some(output) = run(
        root,
        &args,
        Some(input),
        config.git_timeout,
        16 * 1024 * 1024,
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    Ok(output
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| std::str::from_utf8(name).ok().map(str::to_string))
        .collect())
}
