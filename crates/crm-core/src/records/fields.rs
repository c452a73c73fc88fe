//! The field registry as the records module names it: the built-in fields and the shared
//! words they are described with. Both live in the shared vocabulary at the bottom of the crate
//! ([`crate::vocab`]), so policy and audit can use them without depending on records; this
//! module keeps the path `crate::records::fields` that callers use.

pub use crate::vocab::fields::{FieldDef, builtin, mask_hint};
pub use crate::vocab::{Entity, Kind, Level, MaskStyle};
