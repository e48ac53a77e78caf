//! Pure rendering helpers: text in, styled lines out (skeleton of the contract).
pub mod diffview;
pub mod highlight;
pub mod markdown;
