//! A config problem names exactly where it is — file, document, field — shows the bad value and
//! a correct example. Validation collects every problem and fails once with all of them.

use std::fmt;

/// Where a document came from: its file and its 1-based position in that file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub document: usize,
    /// `kind name.namespace`, when the document got that far.
    pub what: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if !self.what.is_empty() {
            write!(f, " ({})", self.what)?;
        }
        Ok(())
    }
}

/// One thing wrong with the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    /// Dotted path of the field, e.g. `spec.params.dimensions.source_app`.
    pub field: String,
    pub message: String,
    pub value: Option<String>,
    pub example: Option<String>,
}

impl Problem {
    pub fn new(origin: &Origin, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            origin: origin.clone(),
            field: field.into(),
            message: message.into(),
            value: None,
            example: None,
        }
    }

    /// Shows the offending value (shortened when long).
    pub fn value(mut self, value: impl Into<String>) -> Problem {
        let mut v: String = value.into();
        if v.chars().count() > 120 {
            v = v.chars().take(117).collect::<String>() + "...";
        }
        self.value = Some(v);
        self
    }

    /// Shows what a correct value looks like.
    pub fn example(mut self, example: impl Into<String>) -> Problem {
        self.example = Some(example.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(v) = &self.value {
            write!(f, "\n    value:   {v}")?;
        }
        if let Some(e) = &self.example {
            write!(f, "\n    example: {e}")?;
        }
        Ok(())
    }
}

/// Every problem found in one config, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} config problem{}:", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            writeln!(f, "- {p}")?;
        }
        Ok(())
    }
}
