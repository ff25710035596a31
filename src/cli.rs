//! Command line: `chinwag [serve]` runs the stdio server, `chinwag doctor` checks the setup.

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::paths::{self, Paths};
use crate::{doctor, logging, one_shot, server, transport};

/// chinwag: talk to language models from your editor, over JSON-RPC on stdin/stdout.
#[derive(Debug, Parser)]
#[command(name = "chinwag", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the JSON-RPC server on stdin/stdout (the default; editors start this).
    Serve,
    /// Print paths, config problems and, per provider, whether a key is found and the
    /// endpoint answers.
    Doctor,
    /// Ask one question and stream the answer to stdout. Piped stdin is added as context.
    /// The exchange is saved in the history like any other chat.
    Chat {
        /// The provider to ask (default: the config's `default_provider`).
        #[arg(long)]
        provider: Option<String>,
        /// The model (default: the provider's default).
        #[arg(long)]
        model: Option<String>,
        /// A system prompt.
        #[arg(long)]
        system: Option<String>,
        /// The question.
        #[arg(required = true)]
        prompt: Vec<String>,
    },
}

/// Run the command line and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    paths::restrict_umask();
    crate::crypto::harden_process();
    let paths = match Paths::discover() {
        Ok(paths) => paths,
        Err(error) => {
            eprintln!("chinwag: {error}");
            return 2;
        }
    };
    let config = Config::load(&paths.config_file);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chinwag")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("chinwag: cannot start the async runtime: {error}");
            return 2;
        }
    };
    let code = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(paths, config)),
        Command::Doctor => runtime.block_on(async {
            let (report, healthy) = doctor::report(&paths, &config).await;
            #[allow(clippy::print_stdout, reason = "the doctor's report is for a terminal")]
            {
                print!("{report}");
            }
            if healthy { 0 } else { 1 }
        }),
        Command::Chat {
            provider,
            model,
            system,
            prompt,
        } => runtime.block_on(one_shot::run(
            paths,
            config,
            one_shot::Question {
                provider,
                model,
                system,
                prompt: prompt.join(" "),
            },
        )),
    };
    // A read of stdin may still be blocked in a runtime thread (after `exit` or a signal);
    // waiting for it would hang, so the runtime is let go.
    runtime.shutdown_background();
    code
}

async fn serve(paths: Paths, config: Config) -> i32 {
    // Protect the protocol first: from here on fd 1 is stderr and only the writer has stdout.
    let output = match transport::take_stdout() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("chinwag: cannot take stdout: {error}");
            return 2;
        }
    };
    if let Err(error) = paths.ensure_dirs() {
        eprintln!(
            "chinwag: cannot create {}: {error}",
            paths.data_dir.display()
        );
        return 2;
    }
    let _log_guard = match logging::init(&paths.log_dir, config.log_level.as_deref()) {
        Ok(guard) => Some(guard),
        Err(error) => {
            eprintln!("chinwag: logging disabled: {error}");
            None
        }
    };
    install_panic_hook();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    for problem in &config.problems {
        tracing::warn!(%problem, "config problem; the rest of the file is in force");
        eprintln!("chinwag: {problem}");
    }
    match server::run(tokio::io::stdin(), output, paths, config).await {
        Ok(code) => {
            tracing::info!(code, "stopped");
            code
        }
        Err(error) => {
            eprintln!("chinwag: {error}");
            2
        }
    }
}

/// Log panics (where, never what) instead of printing them in full: a panic message, even
/// a fixed one, could be built from data a request carried, so its payload is never written.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic (message withheld)");
        eprintln!("chinwag: internal error at {location}; see the log");
    }));
}
