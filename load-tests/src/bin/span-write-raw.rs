//! `span-write-raw`: the baseline of the span benchmark (bench-spans.sh). It writes, with
//! plain `scylla` prepared inserts and nothing else (no queue, no retries, no metrics), the
//! rows the telemetry service's Cassandra writer writes per span, as fast as Cassandra
//! takes them with `--concurrency` spans in flight, and prints one JSON line.
//!
//! The spans are the ones the service makes: report-load's bags (same shape and seed, every
//! trace sampled) go through the telemetry pipeline with the standard config into an
//! in-memory sink, and are then replayed in a loop. The rows come from the telemetry crate's
//! own builders (`jaeger_rows::SpanRows`, `cassandra::udt`) and its CQL strings; the
//! `service_names` / `operation_names_v2` rows are written once up front, as the writer's
//! names cache does.

use clap::Parser;
use mixer_load_tests::bags::{request_pool, BagShape};
use mixer_load_tests::duration::parse_duration;
use mixer_telemetry::config_source;
use mixer_telemetry::pipeline::Pipeline;
use mixer_telemetry::self_metrics::TelemetryMetrics;
use mixer_telemetry::service::TelemetryService;
use mixer_telemetry::traces::cassandra::{udt, writer, CassandraConfig, SchemaOptions};
use mixer_telemetry::traces::jaeger_rows::{SpanRows, TagIndexOptions};
use mixer_telemetry::traces::{MemoryOptions, Span, TraceBackend, TraceOptions};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::ExecutionError;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::CqlTimestamp;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "span-write-raw",
    about = "Raw scylla insert loop writing the telemetry writer's rows per span"
)]
struct Args {
    /// Cassandra contact point, host:port.
    #[arg(long, default_value = "127.0.0.1:9042")]
    cassandra: String,
    #[arg(long, default_value = "jaeger_v1_dc1")]
    keyspace: String,
    /// Create Jaeger's schema (IF NOT EXISTS, SimpleStrategy, RF 1) first.
    #[arg(long)]
    create_schema: bool,
    /// Spans in flight (the telemetry flag --traces-max-in-flight).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// `sequential`: a span's rows one after another; `concurrent`: all of them at once.
    #[arg(long, default_value = "concurrent", value_parser = ["sequential", "concurrent"])]
    mode: String,
    /// How long to measure (after the warm-up).
    #[arg(long, value_parser = parse_duration, default_value = "20s")]
    duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    warmup: Duration,
    /// report-load's --pool, --batch, --workloads, --seed: the same bags, so the same spans.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 20)]
    workloads: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runtime worker threads (0 = one per available CPU).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match mixer_load_tests::runtime(args.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("span-write-raw: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("span-write-raw: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<String, String> {
    let spans = Arc::new(service_spans(&args).await?);
    if spans.is_empty() {
        return Err("the pipeline made no spans from the bags".into());
    }
    let index = TagIndexOptions::default();
    if args.create_schema {
        let config = CassandraConfig {
            contact_points: vec![args.cassandra.clone()],
            keyspace: args.keyspace.clone(),
            create_schema: Some(SchemaOptions {
                datacenter: String::new(),
                ..SchemaOptions::default()
            }),
            request_timeout: Duration::from_secs(30),
            ..CassandraConfig::default()
        };
        writer::CassandraWriter::connect(config)
            .await
            .map_err(|e| e.to_string())?;
    }
    let raw = Arc::new(Raw::connect(&args.cassandra, &args.keyspace).await?);
    raw.write_names(&spans, &index).await?;

    let sequential = args.mode == "sequential";
    let next = Arc::new(AtomicUsize::new(0));
    let (done, rows, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (raw, spans, next, index) = (raw.clone(), spans.clone(), next.clone(), index.clone());
        let (done, rows, errors) = (done.clone(), rows.clone(), errors.clone());
        tasks.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let span = &spans[next.fetch_add(1, Relaxed) % spans.len()];
                let written = raw.write(span, &index, sequential).await;
                if Instant::now() < measure_from || now > end {
                    continue;
                }
                match written {
                    Ok(n) => {
                        done.fetch_add(1, Relaxed);
                        rows.fetch_add(n, Relaxed);
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Relaxed) < 3 {
                            eprintln!("span-write-raw: {e}");
                        }
                    }
                }
            }
        });
    }
    let cpu0 = wait_and_cpu(measure_from).await;
    while tasks.join_next().await.is_some() {}
    let cpu1 = mixer_load_tests::cpu::cpu_seconds(None).unwrap_or(0.0);
    let elapsed = args.duration.as_secs_f64();
    let spans_done = done.load(Relaxed);
    let cpu = cpu1 - cpu0;
    Ok(format!(
        concat!(
            "{{\"tool\":\"span-write-raw\",\"mode\":\"{}\",\"concurrency\":{},",
            "\"distinct_spans\":{},\"spans\":{},\"elapsed_s\":{:.3},\"spans_per_s\":{:.1},",
            "\"rows_per_span\":{:.2},\"errors\":{},\"cpu_s\":{:.3},\"cpu_us_per_span\":{:.1}}}"
        ),
        args.mode,
        args.concurrency,
        spans.len(),
        spans_done,
        elapsed,
        spans_done as f64 / elapsed,
        rows.load(Relaxed) as f64 / spans_done.max(1) as f64,
        errors.load(Relaxed),
        cpu,
        cpu / spans_done.max(1) as f64 * 1e6,
    ))
}

/// Sleeps until `at`, then reads this process's CPU seconds.
async fn wait_and_cpu(at: Instant) -> f64 {
    tokio::time::sleep_until(at.into()).await;
    mixer_load_tests::cpu::cpu_seconds(None).unwrap_or(0.0)
}

/// report-load's bags, every trace sampled, through the standard config into memory.
async fn service_spans(args: &Args) -> Result<Vec<Span>, String> {
    let shape = BagShape {
        workloads: args.workloads.max(1),
        start_seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1_700_000_000, |d| d.as_secs() as i64),
        seed: args.seed,
        sampled_percent: 100.0,
        ..BagShape::default()
    };
    let pool = request_pool(shape, args.pool, args.batch.max(1));
    let backend = TraceBackend::start(TraceOptions {
        memory: MemoryOptions {
            max_traces: pool.len() * args.batch.max(1) + 1,
            ..MemoryOptions::default()
        },
        ..TraceOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let sink = backend.sink();
    let config = config_source::validate(None).map_err(|e| e.to_string())?;
    let pipeline = Pipeline::with_traces(config, 1, &sink).map_err(|e| e.to_string())?;
    let service = TelemetryService::new(pipeline, Arc::new(TelemetryMetrics::default()), 4);
    for request in &pool {
        service
            .report_bytes(request)
            .map_err(|e| format!("report: {e}"))?;
    }
    backend.shutdown(Duration::from_secs(30)).await;
    Ok(sink.memory().map(|m| m.spans()).unwrap_or_default())
}

type Insert<'a> = Pin<Box<dyn Future<Output = Result<(), ExecutionError>> + Send + 'a>>;

/// A session and the writer's statements, prepared and idempotent, at LOCAL_ONE.
struct Raw {
    session: Session,
    span: PreparedStatement,
    service_name_index: PreparedStatement,
    service_operation_index: PreparedStatement,
    tag_index: PreparedStatement,
    duration_index: PreparedStatement,
    service_name: PreparedStatement,
    operation_name: PreparedStatement,
}

impl Raw {
    async fn connect(addr: &str, keyspace: &str) -> Result<Raw, String> {
        let profile = ExecutionProfile::builder()
            .consistency(Consistency::LocalOne)
            .request_timeout(Some(Duration::from_secs(10)))
            .build();
        let session = SessionBuilder::new()
            .known_node(addr)
            .default_execution_profile_handle(profile.into_handle())
            .build()
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        session
            .use_keyspace(keyspace, false)
            .await
            .map_err(|e| format!("use keyspace {keyspace}: {e}"))?;
        let prepare = |cql: &'static str| {
            let session = &session;
            async move {
                let mut p = session
                    .prepare(cql)
                    .await
                    .map_err(|e| format!("prepare {cql}: {e}"))?;
                p.set_is_idempotent(true);
                Ok::<_, String>(p)
            }
        };
        Ok(Raw {
            span: prepare(writer::INSERT_SPAN).await?,
            service_name_index: prepare(writer::INSERT_SERVICE_NAME_INDEX).await?,
            service_operation_index: prepare(writer::INSERT_SERVICE_OPERATION_INDEX).await?,
            tag_index: prepare(writer::INSERT_TAG_INDEX).await?,
            duration_index: prepare(writer::INSERT_DURATION_INDEX).await?,
            service_name: prepare(writer::INSERT_SERVICE_NAME).await?,
            operation_name: prepare(writer::INSERT_OPERATION_NAME).await?,
            session,
        })
    }

    fn exec<'a>(
        &'a self,
        stmt: &'a PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow + Send + 'a,
    ) -> Insert<'a> {
        Box::pin(async move { self.session.execute_unpaged(stmt, values).await.map(drop) })
    }

    /// The names rows of every distinct service and operation, once.
    async fn write_names(&self, spans: &[Span], index: &TagIndexOptions) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for span in spans {
            let rows = SpanRows::new(span, index);
            let op = &rows.operation;
            if seen.insert((op.service_name, op.span_kind, op.operation_name)) {
                self.exec(&self.service_name, (rows.service_name,))
                    .await
                    .map_err(|e| e.to_string())?;
                self.exec(
                    &self.operation_name,
                    (op.service_name, op.span_kind, op.operation_name),
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Every row of `span` but the names; returns how many.
    async fn write(
        &self,
        span: &Span,
        index: &TagIndexOptions,
        sequential: bool,
    ) -> Result<u64, ExecutionError> {
        let rows = SpanRows::new(span, index);
        let t = &rows.traces;
        let mut inserts: Vec<Insert<'_>> = vec![self.exec(
            &self.span,
            (
                &t.trace_id[..],
                t.span_id,
                t.span_hash,
                t.parent_id,
                t.operation_name,
                t.flags,
                t.start_time,
                t.duration,
                udt::key_values(&t.tags),
                udt::logs(&t.logs),
                udt::refs(&t.refs),
                udt::process(&t.process),
            ),
        )];
        let r = &rows.service_name_index;
        inserts.push(self.exec(
            &self.service_name_index,
            (r.service_name, r.bucket, r.start_time, &r.trace_id[..]),
        ));
        let r = &rows.service_operation_index;
        inserts.push(self.exec(
            &self.service_operation_index,
            (
                r.service_name,
                r.operation_name,
                r.start_time,
                &r.trace_id[..],
            ),
        ));
        for r in &rows.tag_index {
            inserts.push(self.exec(
                &self.tag_index,
                (
                    &r.trace_id[..],
                    r.span_id,
                    r.service_name,
                    r.start_time,
                    r.tag_key,
                    r.tag_value.as_ref(),
                ),
            ));
        }
        for r in &rows.duration_index {
            inserts.push(self.exec(
                &self.duration_index,
                (
                    r.service_name,
                    r.operation_name,
                    CqlTimestamp(r.bucket_ms),
                    r.duration,
                    r.start_time,
                    &r.trace_id[..],
                ),
            ));
        }
        let n = inserts.len() as u64;
        if sequential {
            for insert in inserts {
                insert.await?;
            }
        } else {
            join_all(inserts).await?;
        }
        Ok(n)
    }
}

/// Runs every insert concurrently; the first error, once all are done.
async fn join_all(inserts: Vec<Insert<'_>>) -> Result<(), ExecutionError> {
    let mut pending: Vec<Option<Insert<'_>>> = inserts.into_iter().map(Some).collect();
    let mut first_err = None;
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => {
                        if let (Err(e), None) = (r, &first_err) {
                            first_err = Some(e);
                        }
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    first_err.map_or(Ok(()), Err)
}
