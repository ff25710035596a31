//! `chinwag chat "question"`: one turn from the command line, through the same chat service
//! as `chat/send`, streamed to stdout. Reasoning, if any, goes to stderr.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::app::Storage;
use crate::chat::{ChatError, ChatService, Delta, SendOptions, Turn};
use crate::config::Config;
use crate::context::{CodeRegion, ContextItem};
use crate::paths::Paths;
use crate::tty_password::{self, Source};
use crate::vault::{PASSWORD_ENV, Vault, VaultError};

/// Tries at the password prompt before giving up.
const PASSWORD_TRIES: usize = 3;

/// Open the vault before the question goes out. It opens itself when it can (the local key
/// file, `CHINWAG_PASSWORD`, `password_command`); a locked one is unlocked with a password
/// typed at the terminal, without echo, or the error says how to give one.
pub fn open_vault(vault: &Vault, source: Source, config_file: &Path) -> Result<(), String> {
    match vault.settings() {
        Ok(_) => return Ok(()),
        Err(VaultError::Locked) => {}
        // A person at the terminal can still type the password.
        Err(error @ VaultError::PasswordCommand(_)) if source != Source::None => {
            eprintln!("chinwag: {error}");
        }
        Err(error) => return Err(error.to_string()),
    }
    if source == Source::None {
        return Err(no_terminal_message(config_file));
    }
    for _ in 0..PASSWORD_TRIES {
        let password = match tty_password::ask(source, "chinwag vault password: ") {
            Ok(Some(password)) => password,
            Ok(None) => return Err(no_terminal_message(config_file)),
            Err(error) => return Err(error.to_string()),
        };
        match vault.unlock(&password) {
            Ok(_) => return Ok(()),
            Err(VaultError::WrongPassword) => eprintln!("chinwag: wrong password"),
            Err(error) => return Err(error.to_string()),
        }
    }
    Err(format!("wrong password {PASSWORD_TRIES} times"))
}

/// What to do when the vault is locked and nobody can be asked.
fn no_terminal_message(config_file: &Path) -> String {
    format!(
        "the vault is locked and there is no terminal to ask for its password: set \
         {PASSWORD_ENV}, or set `password_command` under [vault] in {} (for example \
         `password_command = \"pass show chinwag\"`)",
        config_file.display()
    )
}

/// What was asked on the command line.
pub struct Question {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub system: Option<String>,
    pub prompt: String,
}

/// Ask, stream the answer, return the exit code.
pub async fn run(paths: Paths, config: Config, question: Question) -> i32 {
    match ask(paths, config, question).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("chinwag: {message}");
            1
        }
    }
}

async fn ask(paths: Paths, config: Config, question: Question) -> Result<(), String> {
    paths.ensure_dirs().map_err(|e| e.to_string())?;
    let mut piped = String::new();
    if !std::io::stdin().is_terminal() {
        std::io::stdin()
            .read_to_string(&mut piped)
            .map_err(|e| format!("reading stdin: {e}"))?;
    }
    // Piped text is context like an editor's selection, through the same assembly and guard.
    let request = crate::context::Request {
        content: question.prompt.clone(),
        items: (!piped.trim().is_empty())
            .then_some(ContextItem::Region(CodeRegion {
                path: None,
                language: None,
                start_line: None,
                end_line: None,
                text: piped,
            }))
            .into_iter()
            .collect(),
        ..Default::default()
    };

    let storage = Storage::open(&paths, &config)?;
    let vault = storage.vault.clone();
    let config_file = paths.config_file.clone();
    tokio::task::spawn_blocking(move || open_vault(&vault, Source::current(), &config_file))
        .await
        .map_err(|error| crate::task_failure::report(&error, "opening the vault").to_string())??;
    let chat = Arc::new(ChatService::open(&config, storage.history.clone())?);
    let Question {
        provider,
        model,
        system,
        ..
    } = question;
    let setup = chat.clone();
    let named = provider.is_some();
    let new = tokio::task::spawn_blocking(move || {
        setup.new_chat(provider.as_deref(), model.as_deref(), system, None, None)
    })
    .await
    .map_err(|error| crate::task_failure::report(&error, "starting the chat").to_string())?
    .map_err(|error| match error {
        ChatError::Config(_) if !named => {
            format!("{error} (fix it, or name a provider with --provider)")
        }
        other => other.to_string(),
    })?;

    let (tx, mut rx) = mpsc::channel::<Delta>(256);
    let print = async move {
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        while let Some(delta) = rx.recv().await {
            let _ = match delta.kind {
                "reasoning" => stderr.write_all(delta.delta.as_bytes()),
                _ => stdout
                    .write_all(delta.delta.as_bytes())
                    .and_then(|()| stdout.flush()),
            };
        }
    };
    let chat_id = new.chat_id.clone();
    let canceller = chat.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            canceller.cancel(&chat_id);
        }
    });
    let assembled = chat.assemble(request).await.map_err(|e| e.to_string())?;
    let turn = Turn::Send {
        manifest: assembled.saved_manifest(),
        content: assembled.text,
        parent: None,
        project: None,
    };
    let (result, ()) = tokio::join!(
        chat.turn(&new.chat_id, turn, SendOptions::default(), tx),
        print
    );
    ctrl_c.abort();
    #[allow(clippy::print_stdout, reason = "the answer goes to the terminal")]
    {
        println!();
    }
    result.map(|_| ()).map_err(|e| e.to_string())
}
