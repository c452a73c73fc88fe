//! Strongroom CRM use cases: one documented function per use case, with the wire types every
//! front end sends and receives, and the seam through which front ends reach them.
//!
//! ```text
//!  desktop shell (Tauri)   crm CLI   office server (later)
//!            \               |              /
//!             `------ Backend (the seam) --'
//!                   /                 \
//!           LocalBackend          RemoteBackend (later)
//!      (session in this process)   (TLS to the office server)
//!                   |
//!        use-case modules: records, users, settings, transfer, backup, audit, security, vault
//!                   |
//!                crm-core (Session: every rule, every check, the audit trail)
//! ```
//!
//! - A use case is a function over a crm-core [`Session`](crm_core::Session) and request
//!   types, returning response types ([`records::list_records`], [`users::add_user`], …). It
//!   shapes answers for screens; the rules themselves (scope, clearance, masking, audit)
//!   stay in crm-core.
//! - [`Backend`] has one method per use case. [`LocalBackend`] hosts a session in this
//!   process and adds only what hosting takes: locked/unlocked, long operations, the backup
//!   scheduler and auto-lock.
//! - Wire types serialise with serde; with the `specta` feature they also derive
//!   `specta::Type`, from which the desktop generates its TypeScript bindings. Record kinds,
//!   levels, scopes and outcomes are real enums ([`vocab`]).
//! - Errors are `{ code, message }` ([`ApiError`]); unasked-for news (progress, auto-lock,
//!   scheduled backups) goes to an [`EventSink`](events::EventSink).
//! - Who is acting and from where travels in a [`ClientInfo`] to every audit entry.
//!
//! A new use case: a function in the module of its domain (with its request and response
//! types beside it), a method on [`Backend`], its line in [`LocalBackend`], then a one-line
//! command in the desktop shell and a subcommand in the CLI.

pub mod audit;
pub mod backend;
pub mod backup;
pub mod client;
pub mod error;
pub mod events;
pub mod local;
pub mod records;
pub mod security;
pub mod settings;
pub mod transfer;
pub mod users;
pub mod vault;
pub mod vocab;
pub mod wire;

pub use backend::Backend;
pub use client::ClientInfo;
pub use error::{ApiError, ApiResult};
pub use local::LocalBackend;
