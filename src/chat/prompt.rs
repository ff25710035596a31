//! Rewrite prompts: the request asking for a rewrite of a region, and the code in its answer.
//! Messages themselves, regions included, are built by [`crate::context`].

pub use crate::context::{CodeRegion, format_region};

/// The prompt asking for a rewrite of `region`.
pub fn rewrite_request(instruction: &str, region: &CodeRegion) -> String {
    format!(
        "Rewrite the code below as instructed. Answer with the complete rewritten code in a single \
         fenced code block and nothing else: no explanation, no other blocks.\n\n\
         Instruction: {}\n\n{}",
        instruction.trim(),
        format_region(region)
    )
}

/// The code inside the first fenced block of `answer`, or the whole answer if it has none.
pub fn extract_code(answer: &str) -> String {
    let lines: Vec<&str> = answer.lines().collect();
    let Some(open) = lines.iter().position(|l| l.trim_start().starts_with("```")) else {
        return answer.trim_matches('\n').to_string();
    };
    let fence: String = lines[open]
        .trim_start()
        .chars()
        .take_while(|&c| c == '`')
        .collect();
    let body: Vec<&str> = lines[open + 1..]
        .iter()
        .take_while(|l| l.trim() != fence)
        .copied()
        .collect();
    let mut code = body.join("\n");
    code.push('\n');
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(text: &str) -> CodeRegion {
        CodeRegion {
            path: Some("src/main.rs".into()),
            language: Some("rust".into()),
            start_line: Some(10),
            end_line: Some(12),
            text: text.into(),
        }
    }

    #[test]
    fn regions_are_fenced_and_labelled() {
        let message = format_region(&region("fn main() {}\n"));
        assert_eq!(
            message,
            "`src/main.rs` lines 10-12:\n```rust\nfn main() {}\n```"
        );
    }

    #[test]
    fn backticks_in_the_code_get_a_longer_fence() {
        let formatted = format_region(&region("let s = \"```\";"));
        assert!(
            formatted.contains("````rust\n") && formatted.ends_with("\n````"),
            "{formatted}"
        );
    }

    #[test]
    fn code_is_extracted_from_the_first_block() {
        assert_eq!(
            extract_code("Sure:\n```rust\nfn a() {}\n```\nDone."),
            "fn a() {}\n"
        );
        assert_eq!(extract_code("````\nx ``` y\n````"), "x ``` y\n");
        assert_eq!(extract_code("\nplain\n"), "plain");
    }
}
