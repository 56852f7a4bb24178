//! Templates (spec/mixer-api.md §6): what an instance of each kind holds, field by field, and
//! whether it is dispatched on Report, on Check or as a quota.

use mixer_attributes::ValueType;

/// When instances of a template are dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variety {
    Report,
    Check,
    Quota,
}

/// The type of one template field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `istio.policy.v1beta1.Value`: an expression of any type.
    Any,
    /// An expression of exactly this type.
    Typed(ValueType),
    /// `map<string, Value>`: a map of expressions of any type.
    AnyMap,
    /// A sub-message with fields of its own (authorization's subject and action).
    Message(&'static [Field]),
}

/// One template field: its proto name (snake_case; `camelCase` spellings are accepted too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

const fn f(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty }
}

use FieldType::{Any, AnyMap, Message, Typed};
use ValueType::{Bool, Int64, IpAddress, String as Str, Timestamp};

const METRIC: &[Field] = &[
    f("value", Any),
    f("dimensions", AnyMap),
    f("monitored_resource_type", Typed(Str)),
    f("monitored_resource_dimensions", AnyMap),
];

const LOGENTRY: &[Field] = &[
    f("variables", AnyMap),
    f("timestamp", Typed(Timestamp)),
    f("severity", Typed(Str)),
    f("monitored_resource_type", Typed(Str)),
    f("monitored_resource_dimensions", AnyMap),
];

const TRACESPAN: &[Field] = &[
    f("trace_id", Typed(Str)),
    f("span_id", Typed(Str)),
    f("parent_span_id", Typed(Str)),
    f("span_name", Typed(Str)),
    f("start_time", Typed(Timestamp)),
    f("end_time", Typed(Timestamp)),
    f("span_tags", AnyMap),
    // the proto spells this one in camelCase; its snake form is accepted as well
    f("http_status_code", Typed(Int64)),
    f("client_span", Typed(Bool)),
    f("rewrite_client_span_id", Typed(Bool)),
    f("source_name", Typed(Str)),
    f("source_ip", Typed(IpAddress)),
    f("destination_name", Typed(Str)),
    f("destination_ip", Typed(IpAddress)),
    f("request_size", Typed(Int64)),
    f("request_total_size", Typed(Int64)),
    f("response_size", Typed(Int64)),
    f("response_total_size", Typed(Int64)),
    f("api_protocol", Typed(Str)),
];

const LISTENTRY: &[Field] = &[f("value", Any)];

const SUBJECT: &[Field] = &[
    f("user", Typed(Str)),
    f("groups", Typed(Str)),
    f("properties", AnyMap),
];

const ACTION: &[Field] = &[
    f("namespace", Typed(Str)),
    f("service", Typed(Str)),
    f("method", Typed(Str)),
    f("path", Typed(Str)),
    f("properties", AnyMap),
];

const AUTHORIZATION: &[Field] = &[f("subject", Message(SUBJECT)), f("action", Message(ACTION))];

const QUOTA: &[Field] = &[f("dimensions", AnyMap)];

const APIKEY: &[Field] = &[
    f("api", Typed(Str)),
    f("api_version", Typed(Str)),
    f("api_operation", Typed(Str)),
    f("api_key", Typed(Str)),
    f("timestamp", Typed(Timestamp)),
];

/// The templates mixer knows (a closed list, like its adapters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Template {
    Metric,
    LogEntry,
    TraceSpan,
    ReportNothing,
    CheckNothing,
    ListEntry,
    Authorization,
    Quota,
    ApiKey,
}

impl Template {
    pub const ALL: [Template; 9] = [
        Template::Metric,
        Template::LogEntry,
        Template::TraceSpan,
        Template::ReportNothing,
        Template::CheckNothing,
        Template::ListEntry,
        Template::Authorization,
        Template::Quota,
        Template::ApiKey,
    ];

    /// The name used in `compiledTemplate` (and as the Istio 1.0 instance kind).
    pub fn name(self) -> &'static str {
        match self {
            Template::Metric => "metric",
            Template::LogEntry => "logentry",
            Template::TraceSpan => "tracespan",
            Template::ReportNothing => "reportnothing",
            Template::CheckNothing => "checknothing",
            Template::ListEntry => "listentry",
            Template::Authorization => "authorization",
            Template::Quota => "quota",
            Template::ApiKey => "apikey",
        }
    }

    pub fn from_name(name: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn variety(self) -> Variety {
        match self {
            Template::Metric
            | Template::LogEntry
            | Template::TraceSpan
            | Template::ReportNothing => Variety::Report,
            Template::CheckNothing
            | Template::ListEntry
            | Template::Authorization
            | Template::ApiKey => Variety::Check,
            Template::Quota => Variety::Quota,
        }
    }

    pub fn fields(self) -> &'static [Field] {
        match self {
            Template::Metric => METRIC,
            Template::LogEntry => LOGENTRY,
            Template::TraceSpan => TRACESPAN,
            Template::ReportNothing | Template::CheckNothing => &[],
            Template::ListEntry => LISTENTRY,
            Template::Authorization => AUTHORIZATION,
            Template::Quota => QUOTA,
            Template::ApiKey => APIKEY,
        }
    }
}

/// Normalises a params key to its proto (snake_case) spelling: `severityLevels` and
/// `severity_levels` are the same field, as Istio's loader reads both.
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.char_indices() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The lowerCamelCase JSON name of a snake_case field, for messages.
pub fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut up = false;
    for c in field.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_spellings() {
        assert_eq!(snake_case("severityLevels"), "severity_levels");
        assert_eq!(snake_case("severity_levels"), "severity_levels");
        assert_eq!(snake_case("httpStatusCode"), "http_status_code");
        assert_eq!(
            camel_case("monitored_resource_type"),
            "monitoredResourceType"
        );
    }

    #[test]
    fn names_round_trip_and_varieties() {
        for t in Template::ALL {
            assert_eq!(Template::from_name(t.name()), Some(t));
        }
        assert_eq!(Template::Metric.variety(), Variety::Report);
        assert_eq!(Template::ListEntry.variety(), Variety::Check);
        assert_eq!(Template::TraceSpan.fields().len(), 19);
    }
}
