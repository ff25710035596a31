//! Editor responsiveness under a stream (run in release: `cargo bench --bench editors`; needs
//! `tmux`, `nvim` 0.11 and `emacs`).
//!
//! Each editor runs with a real screen, in a tmux pane, with our client and a probe
//! (`benches/editors/probe.{lua,el}`) that re-arms a 1 ms timer and records how late it fires.
//! A local provider streams `TOKENS` tokens at `TOKENS_PER_SECOND` into the chat buffer. In the
//! same run, the same editor with the same chat open and no stream is the baseline. We report
//! the timer's lag (p50/p99/max) while the stream runs, how long after the provider wrote the
//! last token it is on screen (polled with `tmux capture-pane`), and for Emacs the GC time.
//! Neovim's probe also queues a `vim.schedule()` callback from its timer (one at a time) and
//! records how long it waits to run: the lag of scheduled work, reported in a second table.
//! Each scenario runs `ROUNDS` times; lag percentiles pool the rounds.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/http.rs"]
mod http;

const TOKENS: usize = 5_000;
const TOKENS_PER_SECOND: u64 = 1_000;
const ROUNDS: usize = 3;
/// The probe opens the chat at once, sends at `SEND_AT` and quits at `QUIT_AT` (seconds).
const SEND_AT: f64 = 1.5;
const QUIT_AT: f64 = 8.5;
/// The idle baseline's window: as long as the stream.
const IDLE_WINDOW: f64 = TOKENS as f64 / TOKENS_PER_SECOND as f64;
const END_MARKER: &str = "ENDMARK";

#[derive(Clone, Copy, PartialEq)]
enum Editor {
    Neovim,
    Emacs,
}

#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// The chat is open; nothing streams.
    Idle,
    /// A stream with the backend's default merge window (deltas merged within 20 ms).
    Stream,
    /// A stream with `delta_window_ms = 0`: one notification per provider token.
    Unmerged,
    /// A stream (default merge) that is one line of about 28,000 characters, followed to its
    /// end: long-line redisplay.
    LongLine,
    /// A stream (default merge) into a chat of 200 turns with 20 branches, imported from a
    /// JSON export (version 2) when the editor starts.
    Tree,
}

impl Editor {
    fn name(self) -> &'static str {
        match self {
            Editor::Neovim => "Neovim (TUI)",
            Editor::Emacs => "Emacs (-nw)",
        }
    }
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Idle => "no stream (baseline)",
            Load::Stream => "stream, default merge (20 ms)",
            Load::Unmerged => "stream, one notification per token",
            Load::LongLine => "stream, one 28,000-character line",
            Load::Tree => "stream into a 200-turn chat with 20 branches",
        }
    }
}

/// What one probe run recorded, on the wall clock in µs.
#[derive(Default)]
struct Probe {
    mark: u64,
    lags: Vec<(u64, u64)>,
    gcs: Vec<(u64, u64, u64)>,
    /// Neovim only: how long a `vim.schedule()` callback waited to run.
    schedule_lags: Vec<(u64, u64)>,
    /// Neovim only: how long the client took over each `chat/delta` (µs; redraw not included).
    delta_costs: Vec<u64>,
}

/// The provider's view of one stream.
struct Stream {
    first: u64,
    last: u64,
}

#[derive(Default)]
struct Outcome {
    lags: Vec<u64>,
    /// Neovim only: the `vim.schedule()` probe's lags.
    schedule_lags: Vec<u64>,
    /// Neovim only: the client's time per `chat/delta`.
    delta_costs: Vec<u64>,
    /// Delay from the last token written to it being on screen, per round.
    on_screen: Vec<Option<Duration>>,
    gc_seconds_per_5s: Vec<f64>,
    gcs_per_5s: Vec<f64>,
    /// The stream's own length, per round (to see the provider kept its pace).
    stream_seconds: Vec<f64>,
    /// Screen captures taken, and the time they took: the on-screen delay's resolution.
    polls: u32,
    polling: Duration,
}

fn main() {
    for (tool, version) in [
        ("tmux", "-V"),
        ("nvim", "--version"),
        ("emacs", "--version"),
    ] {
        if Command::new(tool).arg(version).output().is_err() {
            panic!("{tool} is needed for this benchmark");
        }
    }
    let (port, streams) = serve();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bench = Bench {
        root,
        elisp: compile_elisp(root),
        binary: env!("CARGO_BIN_EXE_chinwag"),
        port,
        streams,
    };
    let scenarios: Vec<(Editor, Load)> = [Editor::Neovim, Editor::Emacs]
        .into_iter()
        .flat_map(|editor| {
            [Load::Idle, Load::Stream, Load::Unmerged].map(move |load| (editor, load))
        })
        .chain(emacs_extra_scenarios())
        .chain(neovim_extra_scenarios())
        .filter(|&(editor, load)| selected(editor, load))
        .collect();
    let mut outcomes: Vec<Outcome> = scenarios.iter().map(|_| Outcome::default()).collect();
    let rounds = rounds();
    for round in 0..rounds {
        for (index, &(editor, load)) in scenarios.iter().enumerate() {
            eprintln!(
                "round {}/{rounds}: {} — {}",
                round + 1,
                editor.name(),
                load.name()
            );
            bench.run(editor, load, &mut outcomes[index]);
        }
    }
    report(&scenarios, &mut outcomes);
    report_neovim_schedule_lag(&scenarios, &mut outcomes);
}

/// What every run shares: the sources, the compiled Emacs package, the backend and the provider.
struct Bench<'a> {
    root: &'a Path,
    elisp: tempfile::TempDir,
    binary: &'static str,
    port: u16,
    streams: Receiver<Stream>,
}

impl Bench<'_> {
    /// One editor, one load: start the editor with the probe in a fresh tmux server and a fresh
    /// HOME, follow the stream to the screen, and add what the probe saw to `outcome`.
    fn run(&self, editor: Editor, load: Load, outcome: &mut Outcome) {
        let Bench {
            root,
            elisp,
            binary,
            port,
            streams,
        } = self;
        let home = tempfile::tempdir().unwrap();
        prepare_home(load, home.path());
        let config = home.path().join(".config/chinwag");
        std::fs::create_dir_all(&config).unwrap();
        let merge = if load == Load::Unmerged {
            "[chat]\ndelta_window_ms = 0\n"
        } else {
            ""
        };
        std::fs::write(
        config.join("config.toml"),
        format!(
            "default_provider = \"bench\"\n{merge}\
             [providers.bench]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\ndefault_model = \"m\"\n"
        ),
    )
    .unwrap();
        let out = home.path().join("probe.out");
        let (plugin, command) = match editor {
            Editor::Neovim => (
                neovim_plugin_dir(root),
                format!(
                    "nvim -n -i NONE -u {}",
                    root.join("benches/editors/probe.lua").display()
                ),
            ),
            Editor::Emacs => (
                elisp.path().to_path_buf(),
                format!(
                    "emacs -nw -Q -l {}",
                    elisp.path().join("probe.elc").display()
                ),
            ),
        };
        let home_dir = home.path().display();
        let mode = match load {
            Load::Idle => "idle",
            Load::LongLine => "longline",
            Load::Tree => "tree",
            Load::Stream | Load::Unmerged => "stream",
        };
        let command = format!(
            "env HOME={home_dir} XDG_CONFIG_HOME={home_dir}/.config XDG_DATA_HOME={home_dir}/.local/share \
         XDG_STATE_HOME={home_dir}/.local/state XDG_CACHE_HOME={home_dir}/.cache TERM=tmux-256color \
         CHINWAG_BENCH_PLUGIN={} CHINWAG_BENCH_BIN={binary} CHINWAG_BENCH_MODE={mode} \
         CHINWAG_BENCH_SEND_AT={SEND_AT} CHINWAG_BENCH_SECONDS={QUIT_AT} CHINWAG_BENCH_OUT={} \
         {}{command}",
            plugin.display(),
            out.display(),
            emacs_eval_env(editor),
        );
        let socket = format!("chinwag-bench-{}", std::process::id());
        let tmux = |args: &[&str]| {
            Command::new("tmux")
                .args(["-L", &socket, "-f", "/dev/null"])
                .args(args)
                .output()
                .unwrap()
        };
        let started = tmux(&[
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            "160",
            "-y",
            "48",
            &command,
        ]);
        assert!(started.status.success(), "tmux: {started:?}");

        if load != Load::Idle {
            let stream = streams
                .recv_timeout(Duration::from_secs_f64(QUIT_AT + 10.0))
                .expect("the editor should have asked for a stream");
            let waited = Instant::now();
            let mut seen = None;
            while waited.elapsed() < Duration::from_secs(5) {
                let screen = tmux(&["capture-pane", "-p", "-t", "bench"]);
                outcome.polls += 1;
                if String::from_utf8_lossy(&screen.stdout).contains(END_MARKER) {
                    seen = Some(now_us());
                    break;
                }
            }
            outcome.polling += waited.elapsed();
            outcome
                .on_screen
                .push(seen.map(|at| Duration::from_micros(at.saturating_sub(stream.last))));
            outcome
                .stream_seconds
                .push((stream.last - stream.first) as f64 / 1e6);
            let probe = wait_for_probe(&out);
            window(&probe, stream.first, stream.last, outcome);
            neovim_schedule_window(&probe, stream.first, stream.last, outcome);
        } else {
            let probe = wait_for_probe(&out);
            let start = probe.mark;
            window(&probe, start, start + (IDLE_WINDOW * 1e6) as u64, outcome);
            neovim_schedule_window(&probe, start, start + (IDLE_WINDOW * 1e6) as u64, outcome);
        }
        // The editor quits by itself once the probe has written its samples. Killing tmux
        // before then sends it SIGHUP in the middle of quitting: Emacs (stopping the backend
        // in `kill-emacs-hook`) then never exits, and spins on, disturbing every later run.
        let quitting = Instant::now();
        while quitting.elapsed() < Duration::from_secs(10)
            && tmux(&["has-session", "-t", "bench"]).status.success()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        tmux(&["kill-server"]);
    }
}

/// `ROUNDS`, or `CHINWAG_BENCH_ROUNDS` when set (for side experiments).
fn rounds() -> usize {
    std::env::var("CHINWAG_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS)
}

/// The scenarios that only Emacs runs.
fn emacs_extra_scenarios() -> Vec<(Editor, Load)> {
    vec![(Editor::Emacs, Load::LongLine), (Editor::Emacs, Load::Tree)]
}

/// The scenarios that only Neovim runs.
fn neovim_extra_scenarios() -> Vec<(Editor, Load)> {
    vec![
        (Editor::Neovim, Load::LongLine),
        (Editor::Neovim, Load::Tree),
    ]
}

/// Whether a scenario is selected by the command line: `cargo bench --bench editors -- emacs
/// 'baseline|merge'` runs the scenarios whose "editor — load" label contains every argument
/// given (any case), an argument with `|` being any of its parts.
fn selected(editor: Editor, load: Load) -> bool {
    let label = format!("{} — {}", editor.name(), load.name()).to_lowercase();
    std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .all(|arg| {
            arg.split('|')
                .any(|word| label.contains(&word.to_lowercase()))
        })
}

/// For side experiments: `CHINWAG_BENCH_EVAL` (an Emacs Lisp form) is passed on to the Emacs
/// probe, which evaluates it once the package is loaded. Empty for Neovim, or when unset.
fn emacs_eval_env(editor: Editor) -> String {
    match std::env::var("CHINWAG_BENCH_EVAL") {
        Ok(form) if editor == Editor::Emacs && !form.is_empty() => {
            format!("CHINWAG_BENCH_EVAL='{}' ", form.replace('\'', "'\\''"))
        }
        _ => String::new(),
    }
}

/// The Neovim plugin the probe loads: `editors/nvim`, or `CHINWAG_BENCH_NVIM_PLUGIN` (another
/// copy of it, e.g. an older version's `git archive`, to compare two versions in one session).
fn neovim_plugin_dir(root: &Path) -> std::path::PathBuf {
    std::env::var_os("CHINWAG_BENCH_NVIM_PLUGIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("editors/nvim"))
}

/// What a scenario needs in its HOME before the editor starts: for [`Load::Tree`], the
/// export the probe imports (`tree.json`).
fn prepare_home(load: Load, home: &Path) {
    if load == Load::Tree {
        std::fs::write(home.join("tree.json"), tree_export().to_string()).unwrap();
    }
}

/// A JSON export (version 2) of one chat: 200 turns on the current branch, and 20 branches
/// leaving it (every 10th answer has a sibling, followed by one more turn), about 100 KiB of
/// prose, lists and code blocks.
fn tree_export() -> serde_json::Value {
    use serde_json::json;
    let paragraph = |turn: usize, who: &str| {
        let mut text = format!(
            "{who} {turn}: the stream keeps `pace` while an editor redraws every line of text, \
             and the **history** of this chat grows with every turn.\n\n- a list item\n- another"
        );
        if turn.is_multiple_of(3) {
            text.push_str("\n\n```rust\nfn main() {\n    println!(\"turn\");\n}\n```");
        }
        text
    };
    let base = 1_796_000_000_000_u64;
    let mut messages = Vec::new();
    let mut seq = 0;
    let id = |n: usize| format!("{:032x}", 0xb7ee_0000_0000_u64 + n as u64);
    let mut push = |messages: &mut Vec<serde_json::Value>,
                    id: String,
                    parent: Option<String>,
                    role: &str,
                    content: String| {
        let mut message = json!({
            "id": id, "parentId": parent, "role": role, "content": content,
            "createdAt": base + seq as u64 * 1000, "seq": seq, "status": "complete",
        });
        if role == "assistant" {
            message["provider"] = json!("bench");
            message["model"] = json!("m");
            message["finishReason"] = json!("stop");
            message["usage"] = json!({"promptTokens": 100, "completionTokens": 60});
        }
        seq += 1;
        messages.push(message);
    };
    let mut next = 0;
    let mut parent: Option<String> = None;
    let mut leaf = String::new();
    for turn in 0..200 {
        let user = id(next);
        next += 1;
        push(
            &mut messages,
            user.clone(),
            parent.clone(),
            "user",
            paragraph(turn, "Question"),
        );
        let answer = id(next);
        next += 1;
        push(
            &mut messages,
            answer.clone(),
            Some(user.clone()),
            "assistant",
            paragraph(turn, "Answer"),
        );
        if turn % 10 == 9 {
            // A branch: another answer to this turn, and one more turn after it.
            let other = id(next);
            let (follow, reply) = (id(next + 1), id(next + 2));
            next += 3;
            push(
                &mut messages,
                other.clone(),
                Some(user.clone()),
                "assistant",
                paragraph(turn, "Other answer"),
            );
            push(
                &mut messages,
                follow.clone(),
                Some(other),
                "user",
                paragraph(turn, "Follow-up"),
            );
            push(
                &mut messages,
                reply,
                Some(follow),
                "assistant",
                paragraph(turn, "Branch answer"),
            );
        }
        parent = Some(answer.clone());
        leaf = answer;
    }
    let count = messages.len();
    json!({
        "format": "chinwag-export",
        "version": 2,
        "chats": [{
            "id": "b7ee00000000000000000000000c4a71",
            "title": "A long chat with branches",
            "provider": "bench",
            "model": "m",
            "kind": "chat",
            "createdAt": base,
            "updatedAt": base + seq as u64 * 1000,
            "messageCount": count,
            "leafId": leaf,
            "messages": messages,
        }],
    })
}

/// Neovim's `vim.schedule()` probe: keep the samples between `start` and `end`.
fn neovim_schedule_window(probe: &Probe, start: u64, end: u64, outcome: &mut Outcome) {
    outcome.schedule_lags.extend(
        probe
            .schedule_lags
            .iter()
            .filter(|(at, _)| (start..=end).contains(at))
            .map(|&(_, lag)| lag),
    );
    outcome.delta_costs.extend(&probe.delta_costs);
}

/// The Emacs package byte-compiled into a temporary folder, as package.el would install it,
/// with the probe beside it (compiled too, so that its own work disturbs the measure little).
fn compile_elisp(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    let package = std::fs::read_dir(root.join("editors/emacs")).unwrap();
    let probe = root.join("benches/editors/probe.el");
    for path in package
        .map(|entry| entry.unwrap().path())
        .chain(std::iter::once(probe))
    {
        if path.extension().is_some_and(|e| e == "el") {
            let copy = dir.path().join(path.file_name().unwrap());
            std::fs::copy(&path, &copy).unwrap();
            sources.push(copy);
        }
    }
    let compiled = Command::new("emacs")
        .args(["--batch", "-Q", "-L"])
        .arg(dir.path())
        .args(["-f", "batch-byte-compile"])
        .args(&sources)
        .output()
        .unwrap();
    assert!(compiled.status.success(), "byte-compile: {compiled:?}");
    dir
}

/// Keep the lag samples and GC readings that fall between `start` and `end`.
fn window(probe: &Probe, start: u64, end: u64, outcome: &mut Outcome) {
    outcome.lags.extend(
        probe
            .lags
            .iter()
            .filter(|(at, _)| (start..=end).contains(at))
            .map(|&(_, lag)| lag),
    );
    let inside: Vec<_> = probe
        .gcs
        .iter()
        .filter(|(at, _, _)| (start..=end).contains(at))
        .collect();
    if let (Some(first), Some(last)) = (inside.first(), inside.last())
        && last.0 > first.0
    {
        let scale = 5e6 / (last.0 - first.0) as f64;
        outcome
            .gc_seconds_per_5s
            .push((last.1 - first.1) as f64 / 1e6 * scale);
        outcome.gcs_per_5s.push((last.2 - first.2) as f64 * scale);
    }
}

fn wait_for_probe(out: &Path) -> Probe {
    let deadline = Instant::now() + Duration::from_secs_f64(QUIT_AT + 20.0);
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.ends_with("done\n") {
            return parse(&text);
        }
        assert!(Instant::now() < deadline, "the probe did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn parse(text: &str) -> Probe {
    let mut probe = Probe::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |i: usize| fields[i].parse::<u64>().unwrap();
        match fields[0] {
            "mark" => probe.mark = number(1),
            "lag" => probe.lags.push((number(1), number(2))),
            "gc" => probe.gcs.push((number(1), number(2), number(3))),
            "sched" => probe.schedule_lags.push((number(1), number(2))),
            "delta" => probe.delta_costs.push(number(1)),
            _ => {}
        }
    }
    probe
}

fn report(scenarios: &[(Editor, Load)], outcomes: &mut [Outcome]) {
    println!(
        "{TOKENS} tokens at {TOKENS_PER_SECOND} tokens/s, {} rounds per row; 1 ms timer lag pooled over the rounds",
        rounds()
    );
    println!();
    println!(
        "| editor | load | timer samples | lag p50 | lag p99 | lag max | last token on screen after stream end (per round) | GC per 5 s | stream length |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut resolution = Duration::ZERO;
    for (&(editor, load), outcome) in scenarios.iter().zip(outcomes.iter_mut()) {
        outcome.lags.sort_unstable();
        let lags = &outcome.lags;
        let percentile = |p: f64| {
            if lags.is_empty() {
                f64::NAN
            } else {
                lags[((lags.len() - 1) as f64 * p).round() as usize] as f64 / 1e3
            }
        };
        let on_screen = if load == Load::Idle {
            "—".to_string()
        } else {
            outcome
                .on_screen
                .iter()
                .map(|delay| match delay {
                    Some(delay) => format!("{:.1} ms", delay.as_secs_f64() * 1e3),
                    None => "not within 5 s".to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let gc = if editor == Editor::Emacs && !outcome.gc_seconds_per_5s.is_empty() {
            let n = outcome.gc_seconds_per_5s.len() as f64;
            format!(
                "{:.3} s ({:.1} GCs)",
                outcome.gc_seconds_per_5s.iter().sum::<f64>() / n,
                outcome.gcs_per_5s.iter().sum::<f64>() / n
            )
        } else {
            "—".to_string()
        };
        let stream = if outcome.stream_seconds.is_empty() {
            "—".to_string()
        } else {
            let n = outcome.stream_seconds.len() as f64;
            format!("{:.2} s", outcome.stream_seconds.iter().sum::<f64>() / n)
        };
        if outcome.polls > 0 {
            resolution = resolution.max(outcome.polling / outcome.polls);
        }
        println!(
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {on_screen} | {gc} | {stream} |",
            editor.name(),
            load.name(),
            lags.len(),
            percentile(0.50),
            percentile(0.99),
            percentile(1.0),
        );
    }
    println!();
    println!(
        "The screen is polled with `tmux capture-pane`; one capture takes up to {:.1} ms, the \
         on-screen delay's resolution.",
        resolution.as_secs_f64() * 1e3
    );
}

/// Neovim's second probe beside its timer's: the lag of work queued with `vim.schedule()`
/// (what plugins' callbacks, LSP and our own RPC handlers wait on), which a libuv timer cannot
/// see: Neovim polls libuv inside long redraws, but runs scheduled work only between them.
fn report_neovim_schedule_lag(scenarios: &[(Editor, Load)], outcomes: &mut [Outcome]) {
    let rows: Vec<usize> = (0..scenarios.len())
        .filter(|&i| scenarios[i].0 == Editor::Neovim)
        .collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "Neovim: 1 ms timer lag beside the lag of a `vim.schedule()` callback queued from it (one at a time), pooled over the rounds"
    );
    println!();
    println!(
        "| load | timer p99 | timer max | schedule samples | schedule p50 | schedule p99 | schedule max | chat/delta handled in (p50, p99) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for index in rows {
        let outcome = &mut outcomes[index];
        outcome.schedule_lags.sort_unstable();
        outcome.lags.sort_unstable();
        outcome.delta_costs.sort_unstable();
        let percentile = |values: &[u64], p: f64| {
            if values.is_empty() {
                f64::NAN
            } else {
                values[((values.len() - 1) as f64 * p).round() as usize] as f64 / 1e3
            }
        };
        let (timer, schedule) = (&outcome.lags, &outcome.schedule_lags);
        let deltas = if outcome.delta_costs.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{:.3} ms, {:.3} ms ({} deltas)",
                percentile(&outcome.delta_costs, 0.50),
                percentile(&outcome.delta_costs, 0.99),
                outcome.delta_costs.len()
            )
        };
        println!(
            "| {} | {:.2} ms | {:.2} ms | {} | {:.2} ms | {:.2} ms | {:.2} ms | {deltas} |",
            scenarios[index].1.name(),
            percentile(timer, 0.99),
            percentile(timer, 1.0),
            schedule.len(),
            percentile(schedule, 0.50),
            percentile(schedule, 0.99),
            percentile(schedule, 1.0),
        );
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A keep-alive HTTP/1.1 server streaming `TOKENS` OpenAI-style deltas at `TOKENS_PER_SECOND`
/// to every chat request; it reports when it wrote the first and the last token.
fn serve() -> (u16, Receiver<Stream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sender = sender.clone();
            std::thread::spawn(move || handle(stream, &sender));
        }
    });
    (port, receiver)
}

/// The answer's tokens: prose with `inline code`, and now and then a fenced block, so the
/// editors' highlighting has real work; the last token is `END_MARKER`.
fn tokens() -> Vec<String> {
    const WORDS: [&str; 12] = [
        "the", "stream", "keeps", "`pace`", "while", "an", "editor", "redraws", "every", "line",
        "of", "text",
    ];
    let mut tokens = Vec::with_capacity(TOKENS);
    let mut in_code = false;
    for i in 0..TOKENS - 1 {
        let line = i / 12;
        if i % 12 == 0 && line % 20 == 10 {
            tokens.push("\n```rust\n".to_string());
            in_code = true;
        } else if i % 12 == 0 && line % 20 == 0 && in_code {
            tokens.push("\n```\n\n".to_string());
            in_code = false;
        } else if i % 12 == 11 {
            tokens.push(format!("{};\n", WORDS[i % WORDS.len()]));
        } else {
            tokens.push(format!("{} ", WORDS[(i * 7) % WORDS.len()]));
        }
    }
    if in_code {
        tokens.push(format!("\n```\n{END_MARKER}"));
    } else {
        tokens.push(END_MARKER.to_string());
    }
    tokens
}

/// The long-line answer: the same words with no newline and no fence, about 28,000 characters
/// on one line; the last token is `END_MARKER`.
fn long_line_tokens() -> Vec<String> {
    const WORDS: [&str; 12] = [
        "the", "stream", "keeps", "`pace`", "while", "an", "editor", "redraws", "every", "line",
        "of", "text",
    ];
    let mut tokens: Vec<String> = (0..TOKENS - 1)
        .map(|i| format!("{} ", WORDS[(i * 7) % WORDS.len()]))
        .collect();
    tokens.push(END_MARKER.to_string());
    tokens
}

/// The prompt that asks the server for [`long_line_tokens`] (the probes send it in
/// "longline" mode).
const LONG_LINE_PROMPT: &str = "Write one long line.";

fn handle(stream: TcpStream, streams: &Sender<Stream>) {
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = http::read_request(&mut reader) {
        let streaming = String::from_utf8_lossy(&request.body).contains("\"stream\":true");
        if !request.line.starts_with("POST")
            || !request.line.contains("/chat/completions")
            || !streaming
        {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        let long_line = String::from_utf8_lossy(&request.body).contains(LONG_LINE_PROMPT);
        match stream_tokens(&mut writer, long_line) {
            Ok(times) => {
                let _ = streams.send(times);
            }
            Err(_) => return,
        }
    }
}

fn stream_tokens(writer: &mut TcpStream, long_line: bool) -> std::io::Result<Stream> {
    let chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
    writer.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let tokens = if long_line {
        long_line_tokens()
    } else {
        tokens()
    };
    let start = Instant::now();
    let mut first = 0;
    let mut last = 0;
    for (i, token) in tokens.iter().enumerate() {
        let due = start + Duration::from_micros(i as u64 * 1_000_000 / TOKENS_PER_SECOND);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let event = format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"delta": {"content": token}}]})
        );
        writer.write_all(chunk(&event).as_bytes())?;
        last = now_us();
        if i == 0 {
            first = last;
        }
    }
    let finish =
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    writer.write_all(format!("{}0\r\n\r\n", chunk(finish)).as_bytes())?;
    Ok(Stream { first, last })
}
