//! The string matching of Istio 1.0's RBAC: a role's services, paths, methods and constraint
//! values are exact strings, `*` (anything), a prefix (`/books/*`) or a suffix (`*/reviews`);
//! a binding's user and group are exact or `*`. Any other `*` would have been compared
//! literally by Istio and never matched, so it is refused when the config is loaded.

/// A service, path, method or constraint value pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, &'static str> {
        if s == "*" {
            return Ok(Pattern::Any);
        }
        let (prefix, suffix) = (s.ends_with('*'), s.starts_with('*'));
        let inner = s.trim_start_matches('*').trim_end_matches('*');
        if (prefix && suffix) || inner.contains('*') || inner.len() + 1 < s.len() {
            return Err(
                "\"*\" may stand alone, start a pattern or end it, but not both and nowhere else",
            );
        }
        Ok(if prefix {
            Pattern::Prefix(inner.to_owned())
        } else if suffix {
            Pattern::Suffix(inner.to_owned())
        } else {
            Pattern::Exact(s.to_owned())
        })
    }

    pub fn matches(&self, v: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(e) => v == e,
            Pattern::Prefix(p) => v.starts_with(p.as_str()),
            Pattern::Suffix(p) => v.ends_with(p.as_str()),
        }
    }

    /// Whether any of `patterns` matches `v`.
    pub fn any(patterns: &[Pattern], v: &str) -> bool {
        patterns.iter().any(|p| p.matches(v))
    }
}

/// A binding subject's `user` or `group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    Anyone,
    Exactly(String),
}

impl Who {
    /// `None` for an empty field (the subject does not constrain it).
    pub fn parse(s: &str) -> Result<Option<Who>, &'static str> {
        match s {
            "" => Ok(None),
            "*" => Ok(Some(Who::Anyone)),
            _ if s.contains('*') => {
                Err("a user or group is a name or \"*\"; Istio 1.0 matches no other wildcard here")
            }
            _ => Ok(Some(Who::Exactly(s.to_owned()))),
        }
    }

    pub fn matches(&self, v: &str) -> bool {
        match self {
            Who::Anyone => true,
            Who::Exactly(e) => v == e,
        }
    }
}
