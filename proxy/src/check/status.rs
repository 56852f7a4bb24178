//! gRPC status codes as the downstream sees them: the canonical names protobuf's
//! `util::Status::ToString` writes (the body of Istio's denial, `PERMISSION_DENIED:…`), and
//! the HTTP status Istio's proxy answers a denial with (istio/proxy `StatusHttpCode`).

/// The canonical name of a gRPC code (`UNKNOWN` for codes outside 0..=16).
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// The HTTP status for a gRPC code, as the protobuf HTTP error space maps them.
pub fn http_status(code: i32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500, // UNKNOWN, INTERNAL, DATA_LOSS and codes outside the range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_map_to_istios_http_statuses() {
        let cases = [
            (7, 403, "PERMISSION_DENIED"),
            (8, 429, "RESOURCE_EXHAUSTED"),
            (16, 401, "UNAUTHENTICATED"),
            (14, 503, "UNAVAILABLE"),
            (4, 504, "DEADLINE_EXCEEDED"),
            (3, 400, "INVALID_ARGUMENT"),
            (9, 400, "FAILED_PRECONDITION"),
            (5, 404, "NOT_FOUND"),
            (10, 409, "ABORTED"),
            (12, 501, "UNIMPLEMENTED"),
            (1, 499, "CANCELLED"),
            (13, 500, "INTERNAL"),
            (15, 500, "DATA_LOSS"),
            (99, 500, "UNKNOWN"),
        ];
        for (code, http, name) in cases {
            assert_eq!((http_status(code), code_name(code)), (http, name), "{code}");
        }
    }
}
