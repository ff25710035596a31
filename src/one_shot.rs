//! `chinwag chat "question"`: one turn from the command line, through the same chat service
//! as `chat/send`, streamed to stdout. Reasoning, if any, goes to stderr.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::app::Storage;
use crate::chat::prompt::{CodeRegion, user_message};
use crate::chat::{ChatService, Delta, SendOptions};
use crate::config::Config;
use crate::paths::Paths;

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
    let context: Vec<CodeRegion> = (!piped.trim().is_empty())
        .then_some(CodeRegion {
            path: None,
            language: None,
            start_line: None,
            end_line: None,
            text: piped,
        })
        .into_iter()
        .collect();
    let content = user_message(&question.prompt, &context);

    let storage = Storage::open(&paths, &config)?;
    let chat = Arc::new(ChatService::open(&config, storage.history.clone())?);
    let Question {
        provider,
        model,
        system,
        ..
    } = question;
    let setup = chat.clone();
    let new = tokio::task::spawn_blocking(move || {
        setup.new_chat(provider.as_deref(), model.as_deref(), system, None)
    })
    .await
    .map_err(|error| crate::task_failure::report(&error, "starting the chat").to_string())?
    .map_err(|e| e.to_string())?;

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
    let (result, ()) = tokio::join!(
        chat.send(&new.chat_id, content, SendOptions::default(), tx),
        print
    );
    ctrl_c.abort();
    #[allow(clippy::print_stdout, reason = "the answer goes to the terminal")]
    {
        println!();
    }
    result.map(|_| ()).map_err(|e| e.to_string())
}
