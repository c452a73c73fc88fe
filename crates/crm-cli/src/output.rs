//! Printing answers and errors, as text for people or JSON for scripts.
//!
//! Standard output carries only the answer (one JSON document with `--json`); progress and
//! errors go to standard error — as text lines, or with `--json` as one JSON object per line
//! (`{"progress": {"step", "done", "total"}, "message": "[3/10] …"}`), so a script can show
//! progress without parsing text.

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

    /// Progress of long operations, on stderr so it never mixes with results: a text line,
    /// or a JSON line in JSON mode.
    pub fn progress(&self, progress: &crm_core::Progress) {
        let message = format!("[{}/{}] {}", progress.done, progress.total, progress.step);
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({ "progress": progress, "message": message })
            );
        } else {
            eprintln!("{message}");
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
