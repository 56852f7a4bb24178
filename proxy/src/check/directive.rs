//! Route directives from a Check answer (spec §1.7), applied as Envoy's mixer filter does:
//! header operations on the request before it is forwarded and on the response before it is
//! sent back (REPLACE removes every value then sets one, REMOVE removes, APPEND adds a value);
//! `:path`, `:authority` and `:method` may be edited on the request. An operation whose name
//! or value is not a valid header is skipped.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::{Method, Uri};
use mixer_proto::mixer::header_operation::Operation;
use mixer_proto::mixer::HeaderOperation;

/// Applies `ops` to `headers` (responses, and the request's regular headers).
pub fn apply(headers: &mut HeaderMap, ops: &[HeaderOperation]) {
    for op in ops {
        apply_one(headers, op);
    }
}

fn apply_one(headers: &mut HeaderMap, op: &HeaderOperation) {
    let Ok(name) = HeaderName::from_bytes(op.name.as_bytes()) else {
        tracing::debug!(name = %op.name, "route directive: not a header name; skipped");
        return;
    };
    let value = || HeaderValue::from_str(&op.value).ok();
    match Operation::try_from(op.operation) {
        Ok(Operation::Replace) => {
            if let Some(v) = value() {
                headers.insert(name, v);
            }
        }
        Ok(Operation::Remove) => {
            headers.remove(name);
        }
        Ok(Operation::Append) => {
            if let Some(v) = value() {
                headers.append(name, v);
            }
        }
        Err(_) => tracing::debug!(op = op.operation, "route directive: unknown operation"),
    }
}

/// Applies request header operations to `parts`: the pseudo-headers `:path`, `:authority`
/// (the Host header and `host`, the authority the bag and the upstream use) and `:method`;
/// every other name through [`apply`].
pub fn apply_to_request(parts: &mut Parts, host: &mut String, ops: &[HeaderOperation]) {
    for op in ops {
        if !op.name.starts_with(':') {
            apply_one(&mut parts.headers, op);
            continue;
        }
        // Removing a pseudo-header would leave no valid request: only REPLACE / APPEND count.
        if Operation::try_from(op.operation) == Ok(Operation::Remove) {
            continue;
        }
        match op.name.as_str() {
            ":path" => {
                if let Ok(pq) = op.value.parse::<PathAndQuery>() {
                    let mut uri = std::mem::take(&mut parts.uri).into_parts();
                    uri.path_and_query = Some(pq);
                    parts.uri = Uri::from_parts(uri).unwrap_or_default();
                }
            }
            ":authority" => {
                if let Ok(v) = HeaderValue::from_str(&op.value) {
                    parts.headers.insert(HOST, v);
                    op.value.clone_into(host);
                }
            }
            ":method" => {
                if let Ok(m) = Method::from_bytes(op.value.as_bytes()) {
                    parts.method = m;
                }
            }
            other => tracing::debug!(name = other, "route directive: pseudo-header skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn op(name: &str, value: &str, operation: Operation) -> HeaderOperation {
        HeaderOperation {
            name: name.into(),
            value: value.into(),
            operation: operation as i32,
        }
    }

    #[test]
    fn replace_remove_and_append_edit_headers_as_envoy_does() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.insert("x-gone", HeaderValue::from_static("x"));
        apply(
            &mut h,
            &[
                op("x-a", "3", Operation::Replace),
                op("x-gone", "", Operation::Remove),
                op("set-cookie", "a=1", Operation::Append),
                op("set-cookie", "b=2", Operation::Append),
                op("bad name", "v", Operation::Replace),
                op("x-bad-value", "a\nb", Operation::Replace),
            ],
        );
        let all = |n: &str| -> Vec<&str> {
            h.get_all(n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        };
        assert_eq!(all("x-a"), ["3"]);
        assert!(all("x-gone").is_empty());
        assert_eq!(all("set-cookie"), ["a=1", "b=2"]);
        assert!(all("x-bad-value").is_empty());
    }

    #[test]
    fn pseudo_headers_rewrite_the_request_line() {
        let (mut parts, ()) = Request::get("/old?q=1")
            .header("host", "a:80")
            .body(())
            .expect("request")
            .into_parts();
        let mut host = "a:80".to_owned();
        apply_to_request(
            &mut parts,
            &mut host,
            &[
                op(":path", "/new?x=2", Operation::Replace),
                op(":authority", "b:81", Operation::Replace),
                op(":method", "POST", Operation::Replace),
                op(":path", "", Operation::Remove),
                op("x-user", "alice", Operation::Append),
            ],
        );
        assert_eq!(
            parts.uri.path_and_query().map(|p| p.as_str()),
            Some("/new?x=2")
        );
        assert_eq!(host, "b:81");
        assert_eq!(
            parts.headers.get(HOST).map(|v| v.as_bytes()),
            Some(&b"b:81"[..])
        );
        assert_eq!(parts.method, Method::POST);
        assert_eq!(
            parts.headers.get("x-user").map(|v| v.as_bytes()),
            Some(&b"alice"[..])
        );
    }
}
