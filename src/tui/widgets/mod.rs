//! Pure rendering helpers: text in, styled lines out.
pub mod diffview;
pub mod highlight;
pub mod markdown;
