//! Session ids that sort by time: `YYYYMMDD-HHMMSS-mmm-xxxx` (UTC, then 4 random hex digits).

use chrono::{DateTime, Utc};

pub fn new_session_id(now: DateTime<Utc>) -> String {
    format!("{}-{:04x}", now.format("%Y%m%d-%H%M%S-%3f"), fastrand::u16(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let a = new_session_id(DateTime::parse_from_rfc3339("2026-11-21T08:00:00.5Z").unwrap().into());
        let b = new_session_id(DateTime::parse_from_rfc3339("2026-11-21T08:00:01Z").unwrap().into());
        let c = new_session_id(DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().into());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("20261121-080000-500-"));
    }
}
