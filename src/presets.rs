//! Presets: named ways of asking (`explain`, `review`, `fix`, `tests`, `docs`, `commit`, and
//! the user's own `[presets.NAME]`), each a provider, model, system prompt, temperature,
//! token limit and an instruction for the code sent with it. A slash command in an editor
//! (`/tests`) names one; a chat remembers the last one it used.

use serde::Serialize;

/// One preset.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preset {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Put before the user's words (or sent alone when there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Sends the staged diff with the message when the client names a project root.
    pub staged_diff: bool,
    /// Shipped with chinwag (a `[presets.NAME]` of the same name replaces it).
    pub builtin: bool,
}

impl Preset {
    fn builtin(name: &str, system: &str, instruction: &str) -> Preset {
        Preset {
            name: name.to_string(),
            provider: None,
            model: None,
            system: Some(system.to_string()),
            temperature: None,
            max_tokens: None,
            instruction: Some(instruction.to_string()),
            staged_diff: false,
            builtin: true,
        }
    }

    /// The user's message with this preset's instruction before it.
    pub fn message(&self, content: &str) -> String {
        match (self.instruction.as_deref(), content.trim().is_empty()) {
            (Some(instruction), true) => instruction.to_string(),
            (Some(instruction), false) => format!("{instruction}\n\n{}", content.trim_end()),
            (None, _) => content.to_string(),
        }
    }
}

const ENGINEER: &str = "You are a careful senior software engineer. Answer precisely and \
                        concisely; show code in fenced blocks with their language.";

/// The presets chinwag ships.
pub fn builtin_presets() -> Vec<Preset> {
    let mut commit = Preset::builtin(
        "commit",
        "You write git commit messages: a summary line of at most 72 characters in the \
         imperative mood, a blank line, then what changed and why, wrapped at 72 columns. \
         Answer with the message only.",
        "Write a commit message for the staged changes below.",
    );
    commit.staged_diff = true;
    commit.temperature = Some(0.2);
    vec![
        Preset::builtin(
            "explain",
            ENGINEER,
            "Explain what this code does and why, step by step, for someone new to it.",
        ),
        Preset::builtin(
            "review",
            ENGINEER,
            "Review this code: bugs, edge cases, security and clarity. List the problems by \
             importance, each with a concrete fix.",
        ),
        Preset::builtin(
            "fix",
            ENGINEER,
            "Find and fix the bugs in this code. Answer with the corrected code in one fenced \
             block, then explain each change in a sentence.",
        ),
        Preset::builtin(
            "tests",
            ENGINEER,
            "Write unit tests for this code, in its language and the test framework its \
             project most likely uses; cover the edge cases.",
        ),
        Preset::builtin(
            "docs",
            ENGINEER,
            "Write documentation comments for this code in its language's usual style, saying \
             what each part is for and why; answer with the documented code in one fenced block.",
        ),
        commit,
    ]
}
