//! Entry point of the Strongroom CRM desktop app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(error) = strongroom_desktop::run() {
        eprintln!("strongroom: {error}");
        std::process::exit(1);
    }
}
