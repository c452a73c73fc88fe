//! Printing answers and errors, as text for people or JSON for scripts.

use serde::Serialize;

/// Where and how results are printed.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or the text `render` makes of it.
    pub fn show<T: Serialize>(&self, value: &T, render: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(error) => eprintln!("error: could not encode the answer: {error}"),
            }
        } else {
            let text = render(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    /// A one-line confirmation (`{"ok": true, "message": …}` in JSON).
    pub fn done(&self, message: &str) {
        self.show(
            &serde_json::json!({ "ok": true, "message": message }),
            |_| message.to_owned(),
        );
    }

    /// Progress of long operations, on stderr so it never mixes with results.
    pub fn progress(&self, progress: &crm_core::Progress) {
        if !self.json {
            eprintln!("[{}/{}] {}", progress.done, progress.total, progress.step);
        }
    }

    /// An error: `error: …` on stderr, or `{"error": {"code", "message"}}` in JSON mode.
    pub fn error(&self, error: &crm_core::Error) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } })
            );
        } else {
            eprintln!("error: {error}");
        }
    }
}
