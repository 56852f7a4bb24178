//! The global dictionary of `istio.mixer.v1` (222 words, api 1.3+), in order: index n is the
//! n-th word. Words are taken literally from Istio's `global_dictionary.yaml` (quote characters
//! kept: index 94 is `'200'`, 218 is `"-"`). Generated from `data/global_dictionary.txt`;
//! the test below keeps the two in step. Never reorder: indices are on the wire.

/// Number of words in the global dictionary (what we send as `global_word_count`).
pub const GLOBAL_WORD_COUNT: usize = 222;

/// Words 0..111 are the part every Istio proxy version shares (`kGlobalDictionaryBaseSize`).
pub const GLOBAL_BASE_SIZE: usize = 111;

/// The global dictionary.
pub const GLOBAL_WORDS: [&str; GLOBAL_WORD_COUNT] = [
    "source.ip",                        // 0
    "source.port",                      // 1
    "source.name",                      // 2
    "source.uid",                       // 3
    "source.namespace",                 // 4
    "source.labels",                    // 5
    "source.user",                      // 6
    "target.ip",                        // 7
    "target.port",                      // 8
    "target.service",                   // 9
    "target.name",                      // 10
    "target.uid",                       // 11
    "target.namespace",                 // 12
    "target.labels",                    // 13
    "target.user",                      // 14
    "request.headers",                  // 15
    "request.id",                       // 16
    "request.path",                     // 17
    "request.host",                     // 18
    "request.method",                   // 19
    "request.reason",                   // 20
    "request.referer",                  // 21
    "request.scheme",                   // 22
    "request.size",                     // 23
    "request.time",                     // 24
    "request.useragent",                // 25
    "response.headers",                 // 26
    "response.size",                    // 27
    "response.time",                    // 28
    "response.duration",                // 29
    "response.code",                    // 30
    ":authority",                       // 31
    ":method",                          // 32
    ":path",                            // 33
    ":scheme",                          // 34
    ":status",                          // 35
    "access-control-allow-origin",      // 36
    "access-control-allow-methods",     // 37
    "access-control-allow-headers",     // 38
    "access-control-max-age",           // 39
    "access-control-request-method",    // 40
    "access-control-request-headers",   // 41
    "accept-charset",                   // 42
    "accept-encoding",                  // 43
    "accept-language",                  // 44
    "accept-ranges",                    // 45
    "accept",                           // 46
    "access-control-allow",             // 47
    "age",                              // 48
    "allow",                            // 49
    "authorization",                    // 50
    "cache-control",                    // 51
    "content-disposition",              // 52
    "content-encoding",                 // 53
    "content-language",                 // 54
    "content-length",                   // 55
    "content-location",                 // 56
    "content-range",                    // 57
    "content-type",                     // 58
    "cookie",                           // 59
    "date",                             // 60
    "etag",                             // 61
    "expect",                           // 62
    "expires",                          // 63
    "from",                             // 64
    "host",                             // 65
    "if-match",                         // 66
    "if-modified-since",                // 67
    "if-none-match",                    // 68
    "if-range",                         // 69
    "if-unmodified-since",              // 70
    "keep-alive",                       // 71
    "last-modified",                    // 72
    "link",                             // 73
    "location",                         // 74
    "max-forwards",                     // 75
    "proxy-authenticate",               // 76
    "proxy-authorization",              // 77
    "range",                            // 78
    "referer",                          // 79
    "refresh",                          // 80
    "retry-after",                      // 81
    "server",                           // 82
    "set-cookie",                       // 83
    "strict-transport-sec",             // 84
    "transfer-encoding",                // 85
    "user-agent",                       // 86
    "vary",                             // 87
    "via",                              // 88
    "www-authenticate",                 // 89
    "GET",                              // 90
    "POST",                             // 91
    "http",                             // 92
    "envoy",                            // 93
    "'200'",                            // 94
    "Keep-Alive",                       // 95
    "chunked",                          // 96
    "x-envoy-service-time",             // 97
    "x-forwarded-for",                  // 98
    "x-forwarded-host",                 // 99
    "x-forwarded-proto",                // 100
    "x-http-method-override",           // 101
    "x-request-id",                     // 102
    "x-requested-with",                 // 103
    "application/json",                 // 104
    "application/xml",                  // 105
    "gzip",                             // 106
    "text/html",                        // 107
    "text/html; charset=utf-8",         // 108
    "text/plain",                       // 109
    "text/plain; charset=utf-8",        // 110
    "'0'",                              // 111
    "'1'",                              // 112
    "true",                             // 113
    "false",                            // 114
    "gzip, deflate",                    // 115
    "max-age=0",                        // 116
    "x-envoy-upstream-service-time",    // 117
    "x-envoy-internal",                 // 118
    "x-envoy-expected-rq-timeout-ms",   // 119
    "x-ot-span-context",                // 120
    "x-b3-traceid",                     // 121
    "x-b3-sampled",                     // 122
    "x-b3-spanid",                      // 123
    "tcp",                              // 124
    "connection.id",                    // 125
    "connection.received.bytes",        // 126
    "connection.received.bytes_total",  // 127
    "connection.sent.bytes",            // 128
    "connection.sent.bytes_total",      // 129
    "connection.duration",              // 130
    "context.protocol",                 // 131
    "context.timestamp",                // 132
    "context.time",                     // 133
    "0",                                // 134
    "1",                                // 135
    "200",                              // 136
    "302",                              // 137
    "400",                              // 138
    "401",                              // 139
    "403",                              // 140
    "404",                              // 141
    "409",                              // 142
    "429",                              // 143
    "499",                              // 144
    "500",                              // 145
    "501",                              // 146
    "502",                              // 147
    "503",                              // 148
    "504",                              // 149
    "destination.ip",                   // 150
    "destination.port",                 // 151
    "destination.service",              // 152
    "destination.name",                 // 153
    "destination.uid",                  // 154
    "destination.namespace",            // 155
    "destination.labels",               // 156
    "destination.user",                 // 157
    "source.service",                   // 158
    "api.service",                      // 159
    "api.version",                      // 160
    "api.operation",                    // 161
    "api.protocol",                     // 162
    "request.auth.principal",           // 163
    "request.auth.audiences",           // 164
    "request.auth.presenter",           // 165
    "request.api_key",                  // 166
    "check.error_code",                 // 167
    "check.error_message",              // 168
    "request.total_size",               // 169
    "response.total_size",              // 170
    "connection.event",                 // 171
    "check.cache_hit",                  // 172
    "quota.cache_hit",                  // 173
    "source.principal",                 // 174
    "request.auth.claims",              // 175
    "request.auth.raw_claims",          // 176
    "connection.mtls",                  // 177
    "source.metadata",                  // 178
    "source.owner",                     // 179
    "source.services",                  // 180
    "source.workload.uid",              // 181
    "source.workload.name",             // 182
    "source.workload.namespace",        // 183
    "destination.metadata",             // 184
    "destination.owner",                // 185
    "destination.principal",            // 186
    "destination.workload.uid",         // 187
    "destination.workload.name",        // 188
    "destination.workload.namespace",   // 189
    "destination.service.uid",          // 190
    "destination.service.name",         // 191
    "destination.service.namespace",    // 192
    "destination.service.host",         // 193
    "destination.container.name",       // 194
    "destination.container.image",      // 195
    "context.reporter.local",           // 196
    "context.reporter.uid",             // 197
    "response.grpc_status",             // 198
    "response.grpc_message",            // 199
    "context.reporter.type",            // 200
    "context.reporter.kind",            // 201
    "connection.requested_server_name", // 202
    "request.url_path",                 // 203
    "request.query_params",             // 204
    "context.proxy_error_code",         // 205
    "UH",                               // 206
    "UF",                               // 207
    "UO",                               // 208
    "NR",                               // 209
    "LH",                               // 210
    "UT",                               // 211
    "LR",                               // 212
    "UR",                               // 213
    "UC",                               // 214
    "DI",                               // 215
    "FI",                               // 216
    "RL",                               // 217
    "\"-\"",                            // 218
    "inbound",                          // 219
    "outbound",                         // 220
    "context.proxy_version",            // 221
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_spec_file() {
        let file: Vec<&str> = include_str!("../data/global_dictionary.txt")
            .lines()
            .collect();
        assert_eq!(file, GLOBAL_WORDS);
        assert_eq!(GLOBAL_WORDS[0], "source.ip");
        assert_eq!(GLOBAL_WORDS[94], "'200'");
        assert_eq!(GLOBAL_WORDS[218], "\"-\"");
        assert_eq!(GLOBAL_WORDS[221], "context.proxy_version");
    }

    #[test]
    fn words_are_distinct() {
        let set: std::collections::HashSet<_> = GLOBAL_WORDS.iter().collect();
        assert_eq!(set.len(), GLOBAL_WORD_COUNT);
    }
}
