//! Durations on the command line, in Go's syntax as everywhere in mixer: `10s`, `500ms`,
//! `2m`, `1.5s`, `250us`, `1m30s`.

use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: String| format!("duration {s:?}: {why}; expected e.g. 10s, 500ms, 2m");
    mixer_attributes::expr::parse_duration(s.trim())
        .map_err(|e| bad(e.to_string()))?
        .to_std()
        .ok_or_else(|| bad("negative".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
    }
}
