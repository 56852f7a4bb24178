//! Istio-like attribute bags and the `ReportRequest`s that carry them, as an Istio 1.4 sidecar
//! reports an HTTP request (spec/mixer-api.md §1.11, §3): ~46 attributes, ~685 bytes per bag
//! once batched with one shared `default_words` (Istio 1.1+ `INDEPENDENT_ENCODING`).
//!
//! What varies from bag to bag is what varies in a mesh and matters to the standard metrics
//! (§5.3): the (source, destination) workload pair, the path, the response code, durations and
//! sizes, the reporter kind; and what makes every bag unique on the wire: B3 ids, request ids,
//! timestamps. All of it comes from a seeded generator, so a run is reproducible.

use crate::rng::Rng;
use bytes::Bytes;
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{Duration, OwnedBag, OwnedValue, Timestamp};

/// What the generated traffic looks like.
#[derive(Clone, Debug)]
pub struct BagShape {
    /// Distinct (source workload, destination workload) pairs.
    pub workloads: usize,
    /// Distinct request paths per destination.
    pub paths: usize,
    /// Response codes and their weights (any positive scale).
    pub codes: Vec<(i64, u32)>,
    /// Median `response.duration`; durations are log-normal around it.
    pub median_duration: std::time::Duration,
    /// `request.time` of the first bag, in seconds since the epoch.
    pub start_seconds: i64,
    pub seed: u64,
    /// Percent of traces the proxy samples (`x-b3-sampled: 1`); Istio's default is 1.
    pub sampled_percent: f64,
}

impl Default for BagShape {
    fn default() -> Self {
        BagShape {
            workloads: 20,
            paths: 10,
            codes: vec![(200, 95), (404, 3), (503, 2)],
            median_duration: std::time::Duration::from_millis(8),
            start_seconds: 1_700_000_000,
            seed: 0x006d_6978_6572, // "mixer"
            sampled_percent: 1.0,
        }
    }
}

/// Parses a response-code mix such as `200:95,404:3,503:2`.
pub fn parse_codes(s: &str) -> Result<Vec<(i64, u32)>, String> {
    let codes = s
        .split(',')
        .map(|part| {
            let (code, weight) = part
                .split_once(':')
                .ok_or_else(|| format!("code mix {s:?}: {part:?} is not CODE:WEIGHT"))?;
            let code = code.trim().parse::<i64>();
            let weight = weight.trim().parse::<u32>();
            match (code, weight) {
                (Ok(c), Ok(w)) => Ok((c, w)),
                _ => Err(format!(
                    "code mix {s:?}: {part:?} is not CODE:WEIGHT (e.g. 200:95,404:3,503:2)"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if codes.iter().map(|&(_, w)| u64::from(w)).sum::<u64>() == 0 {
        return Err(format!("code mix {s:?}: the weights add up to 0"));
    }
    Ok(codes)
}

const APPS: [&str; 16] = [
    "productpage",
    "reviews",
    "ratings",
    "details",
    "frontend",
    "cart",
    "checkout",
    "payment",
    "shipping",
    "catalog",
    "inventory",
    "auth",
    "search",
    "recommendation",
    "currency",
    "email",
];
const NAMESPACES: [&str; 3] = ["default", "shop", "bookinfo"];
const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    "grpc-go/1.26.0",
    "curl/7.68.0",
];

/// One workload of the mesh: app name, namespace, pod-template hash, first pod IP octet.
#[derive(Clone, Debug)]
struct Workload {
    app: String,
    ns: &'static str,
    hash: String,
    subnet: u8,
}

impl Workload {
    fn new(k: usize) -> Workload {
        let app = match k / APPS.len() {
            0 => APPS[k].to_owned(),
            n => format!("{}-{n}", APPS[k % APPS.len()]),
        };
        Workload {
            app,
            ns: NAMESPACES[k % NAMESPACES.len()],
            hash: format!(
                "{:09x}",
                (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 28
            )[..9]
                .to_owned(),
            subnet: (k % 250) as u8,
        }
    }

    fn pod(&self, replica: u64) -> String {
        format!("{}-v1-{}-{:05}", self.app, self.hash, replica)
    }

    fn labels(&self) -> OwnedValue {
        OwnedValue::StringMap(vec![
            ("app".into(), self.app.clone()),
            ("version".into(), "v1".into()),
            ("pod-template-hash".into(), self.hash.clone()),
            ("security.istio.io/tlsMode".into(), "istio".into()),
        ])
    }
}

/// Makes bags one after another.
#[derive(Debug)]
pub struct BagGenerator {
    shape: BagShape,
    workloads: Vec<Workload>,
    code_total: u64,
    rng: Rng,
    seq: u64,
}

impl BagGenerator {
    pub fn new(shape: BagShape) -> BagGenerator {
        // pair j calls workload j → j+1, so `workloads` pairs need one more workload
        let workloads = (0..=shape.workloads.max(1)).map(Workload::new).collect();
        BagGenerator {
            code_total: shape.codes.iter().map(|&(_, w)| u64::from(w)).sum(),
            rng: Rng::new(shape.seed),
            workloads,
            shape,
            seq: 0,
        }
    }

    fn code(&mut self) -> i64 {
        let mut pick = self.rng.below(self.code_total.max(1));
        for &(code, w) in &self.shape.codes {
            if pick < u64::from(w) {
                return code;
            }
            pick -= u64::from(w);
        }
        200
    }

    /// The next bag: the attributes an Istio sidecar reports for one HTTP request.
    pub fn next_bag(&mut self) -> OwnedBag {
        let i = self.seq;
        self.seq += 1;
        let code = self.code();
        let r = &mut self.rng;
        let pair = r.below(self.shape.workloads.max(1) as u64) as usize;
        let (src, dst) = (&self.workloads[pair], &self.workloads[pair + 1]);
        let src_pod = src.pod(r.below(3));
        let dst_pod = dst.pod(r.below(3));
        let path = format!("/{}/{}", dst.app, r.below(self.shape.paths.max(1) as u64));
        let host = format!("{}:9080", dst.app);
        let trace = r.next_u64();
        let span = r.next_u64();
        let sampled = (r.below(10_000) as f64) < self.shape.sampled_percent * 100.0;
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            r.next_u64() as u32,
            r.below(0x1_0000),
            r.below(0x1000),
            r.below(0x1000),
            r.next_u64() >> 16
        );
        let post = r.below(10) == 0;
        let request_size = if post {
            r.log_normal(600.0, 1.0) as i64
        } else {
            0
        };
        let response_size = r.log_normal(1500.0, 1.2) as i64;
        let median = self.shape.median_duration.as_nanos() as f64;
        let duration = (r.log_normal(median, 1.0) as i128).clamp(1_000, 60_000_000_000);
        let outbound = r.below(2) == 0;
        let agent = USER_AGENTS[r.below(USER_AGENTS.len() as u64) as usize];
        let start_nanos = i128::from(i) * 1_000_000 + i128::from(r.below(1_000_000));
        let cache_hit = r.below(10) != 0;
        let ms = (duration / 1_000_000).to_string();

        let request_time = timestamp(self.shape.start_seconds, start_nanos);
        let response_time = timestamp(self.shape.start_seconds, start_nanos + duration);
        let (ns, dns) = (src.ns, dst.ns);
        let reporter_pod = if outbound { &src_pod } else { &dst_pod };
        let reporter_ns = if outbound { ns } else { dns };
        let s = |v: &str| OwnedValue::String(v.to_owned());
        let int = OwnedValue::Int64;

        let mut b = OwnedBag::with_capacity(48);
        b.set("source.uid", s(&format!("kubernetes://{src_pod}.{ns}")))
            .set("source.name", s(&src_pod))
            .set("source.namespace", s(ns))
            .set("source.workload.name", s(&format!("{}-v1", src.app)))
            .set("source.workload.namespace", s(ns))
            .set(
                "source.workload.uid",
                s(&format!("istio://{ns}/workloads/{}-v1", src.app)),
            )
            .set(
                "source.principal",
                s(&format!("cluster.local/ns/{ns}/sa/{}", src.app)),
            )
            .set("source.ip", ip(src.subnet, src_pod.len() as u8))
            .set("source.labels", src.labels())
            .set(
                "destination.uid",
                s(&format!("kubernetes://{dst_pod}.{dns}")),
            )
            .set("destination.name", s(&dst_pod))
            .set("destination.namespace", s(dns))
            .set("destination.workload.name", s(&format!("{}-v1", dst.app)))
            .set("destination.workload.namespace", s(dns))
            .set(
                "destination.workload.uid",
                s(&format!("istio://{dns}/workloads/{}-v1", dst.app)),
            )
            .set(
                "destination.principal",
                s(&format!("cluster.local/ns/{dns}/sa/{}", dst.app)),
            )
            .set(
                "destination.service.host",
                s(&format!("{}.{dns}.svc.cluster.local", dst.app)),
            )
            .set("destination.service.name", s(&dst.app))
            .set("destination.service.namespace", s(dns))
            .set("destination.ip", ip(dst.subnet, dst_pod.len() as u8))
            .set("destination.port", int(9080))
            .set("destination.labels", dst.labels())
            .set(
                "request.headers",
                OwnedValue::StringMap(vec![
                    (":authority".into(), host.clone()),
                    (":path".into(), path.clone()),
                    (":method".into(), if post { "POST" } else { "GET" }.into()),
                    ("user-agent".into(), agent.into()),
                    ("x-request-id".into(), id.clone()),
                    ("x-b3-traceid".into(), format!("{trace:016x}")),
                    ("x-b3-spanid".into(), format!("{span:016x}")),
                    (
                        "x-b3-sampled".into(),
                        if sampled { "1" } else { "0" }.into(),
                    ),
                    ("accept".into(), "*/*".into()),
                    ("x-forwarded-proto".into(), "http".into()),
                ]),
            )
            .set("request.path", s(&path))
            .set("request.url_path", s(&path))
            .set("request.host", s(&host))
            .set("request.method", s(if post { "POST" } else { "GET" }))
            .set("request.scheme", s("http"))
            .set("request.useragent", s(agent))
            .set("request.id", s(&id))
            .set("request.size", int(request_size))
            .set("request.total_size", int(request_size + 640))
            .set("response.size", int(response_size))
            .set("response.total_size", int(response_size + 180))
            .set("response.code", int(code))
            .set(
                "response.headers",
                OwnedValue::StringMap(vec![
                    (":status".into(), code.to_string()),
                    ("content-type".into(), "application/json".into()),
                    ("server".into(), "istio-envoy".into()),
                    ("x-envoy-upstream-service-time".into(), ms),
                ]),
            )
            .set("request.time", OwnedValue::Timestamp(request_time))
            .set("response.time", OwnedValue::Timestamp(response_time))
            .set(
                "response.duration",
                OwnedValue::Duration(Duration::from_nanos(duration)),
            )
            .set("context.protocol", s("http"))
            .set(
                "context.reporter.kind",
                s(if outbound { "outbound" } else { "inbound" }),
            )
            .set(
                "context.reporter.uid",
                s(&format!("kubernetes://{reporter_pod}.{reporter_ns}")),
            )
            .set("context.proxy_error_code", s("-"))
            .set("check.cache_hit", OwnedValue::Bool(cache_hit))
            .set("connection.mtls", OwnedValue::Bool(true))
            .set("api.protocol", s("http"));
        b
    }

    /// The next bag as the destination's (inbound) sidecar sends it to Check before it
    /// forwards the request: the request and both peers' identities, nothing of the response.
    pub fn next_check_bag(&mut self) -> OwnedBag {
        let mut b = self.next_bag();
        for name in REPORT_ONLY {
            b.remove(name);
        }
        b.set(
            "context.reporter.kind",
            OwnedValue::String("inbound".into()),
        );
        b
    }

    /// The next `batch` bags as one encoded `ReportRequest`.
    pub fn next_request(&mut self, batch: usize) -> Vec<u8> {
        let mut report = ReportBatch::new();
        for _ in 0..batch {
            let bag = self.next_bag();
            report.push(bag.iter());
        }
        report.finish()
    }
}

/// Attributes a proxy knows only once the response is done, so only its Report carries them.
const REPORT_ONLY: [&str; 10] = [
    "request.size",
    "request.total_size",
    "response.size",
    "response.total_size",
    "response.code",
    "response.headers",
    "response.time",
    "response.duration",
    "context.proxy_error_code",
    "check.cache_hit",
];

fn timestamp(start_seconds: i64, nanos: i128) -> Timestamp {
    Timestamp {
        seconds: start_seconds + (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn ip(subnet: u8, host: u8) -> OwnedValue {
    OwnedValue::Bytes(vec![10, 44, subnet, host])
}

/// `pool` distinct encoded requests of `batch` bags each, built once and replayed by the
/// load generator.
pub fn request_pool(shape: BagShape, pool: usize, batch: usize) -> Vec<Bytes> {
    let mut generator = BagGenerator::new(shape);
    (0..pool.max(1))
        .map(|_| Bytes::from(generator.next_request(batch)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixer_proto::mixer::ReportRequest;
    use prost::Message;
    use std::collections::HashSet;

    #[test]
    fn bags_look_like_an_istio_proxys() {
        let mut g = BagGenerator::new(BagShape::default());
        for _ in 0..50 {
            let bag = g.next_bag();
            assert_eq!(bag.len(), 46);
        }
    }

    #[test]
    fn check_bags_carry_the_request_only() {
        let mut g = BagGenerator::new(BagShape::default());
        for _ in 0..20 {
            let bag = g.next_check_bag();
            assert_eq!(bag.len(), 36);
            assert!(bag.iter().all(|(name, _)| !name.starts_with("response.")));
            assert_eq!(
                bag.get_by_name("context.reporter.kind"),
                Some(&OwnedValue::String("inbound".into()))
            );
        }
    }

    #[test]
    fn batched_bytes_per_bag_are_near_istios() {
        let mut g = BagGenerator::new(BagShape::default());
        let bytes = g.next_request(100);
        let per_bag = bytes.len() / 100;
        assert!((600..=780).contains(&per_bag), "{per_bag} bytes per bag");
        let req = ReportRequest::decode(&bytes[..]).unwrap();
        assert_eq!(req.attributes.len(), 100);
        assert_eq!(req.repeated_attributes_semantics, 1);
        assert!(req.attributes.iter().all(|set| set.words.is_empty()));
    }

    #[test]
    fn traces_are_sampled_at_the_given_percent() {
        let sampled = |percent: f64| {
            let mut g = BagGenerator::new(BagShape {
                sampled_percent: percent,
                ..BagShape::default()
            });
            (0..10_000)
                .filter(|_| match g.next_bag().get_by_name("request.headers") {
                    Some(OwnedValue::StringMap(h)) => {
                        h.iter().any(|(k, v)| k == "x-b3-sampled" && v == "1")
                    }
                    other => panic!("request.headers: {other:?}"),
                })
                .count()
        };
        assert_eq!(sampled(0.0), 0);
        assert_eq!(sampled(100.0), 10_000);
        let one = sampled(1.0);
        assert!((50..=150).contains(&one), "{one} of 10000 at 1 %");
    }

    #[test]
    fn workload_pairs_are_distinct_and_all_used() {
        let shape = BagShape {
            workloads: 40,
            ..BagShape::default()
        };
        let mut g = BagGenerator::new(shape);
        let mut pairs = HashSet::new();
        let mut codes = std::collections::BTreeMap::new();
        for _ in 0..4000 {
            let bag = g.next_bag();
            let name = |n: &str| match bag.get_by_name(n) {
                Some(OwnedValue::String(s)) => s.clone(),
                other => panic!("{n}: {other:?}"),
            };
            let src = name("source.workload.name");
            let dst = name("destination.workload.name");
            assert_ne!(src, dst);
            pairs.insert((src, dst));
            if let Some(OwnedValue::Int64(c)) = bag.get_by_name("response.code") {
                *codes.entry(*c).or_insert(0) += 1;
            }
        }
        assert_eq!(pairs.len(), 40);
        assert_eq!(codes.keys().copied().collect::<Vec<_>>(), [200, 404, 503]);
        assert!(codes[&200] > 3600, "{codes:?}");
    }

    #[test]
    fn pool_requests_are_distinct() {
        let pool = request_pool(BagShape::default(), 4, 10);
        assert_eq!(pool.len(), 4);
        let distinct: HashSet<_> = pool.iter().collect();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn code_mix_parses() {
        assert_eq!(
            parse_codes("200:95,404:3, 503:2").unwrap(),
            [(200, 95), (404, 3), (503, 2)]
        );
        assert!(parse_codes("200").is_err());
        assert!(parse_codes("200:0").is_err());
    }
}
