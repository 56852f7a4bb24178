//! Files: only closed files carry the `.parquet` name; rotation by size and by age (a clock
//! moved by hand, no sleeping); a reload that changes the columns starts a new file and one
//! that does not keeps it; a full queue drops newest, counted; write errors are counted and
//! the next rows go to a new file.

use super::super::*;
use super::{
    bag, config_with, params_for, parquet_files, read, report, sinks, temp_dir, VARIABLES, WAIT,
};
use crate::pipeline::Pipeline;
use crate::self_metrics::TelemetryMetrics;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// A clock that moves only when told (seconds since the epoch).
fn manual_clock() -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(1_700_000_000));
    let read = now.clone();
    let clock: Clock = Arc::new(move || UNIX_EPOCH + Duration::from_secs(read.load(Relaxed)));
    (now, clock)
}

fn stats(archives: &Archives, dir: &std::path::Path) -> Arc<ArchiveStats> {
    archives.stats(dir, "accesslog").expect("archive used")
}

#[test]
fn open_files_are_tmp_and_sealing_makes_them_readable() {
    let dir = temp_dir("seal");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&dir, "")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    let writer = archives.writer(p_params(&p)).expect("writer");
    let m = TelemetryMetrics::default();
    report(&p, &[bag(200, "GET")], &m);
    assert!(writer.encoded(WAIT));
    // the row is in the open file, which only exists as .tmp
    let s = stats(&archives, &dir);
    assert_eq!((s.open_rows(), s.written.get()), (1, 0));
    let (files, other) = parquet_files(&dir);
    assert!(files.is_empty(), "{files:?}");
    assert_eq!(other.len(), 1);
    assert!(other[0].ends_with(".parquet.tmp"), "{other:?}");
    assert!(archives.seal(WAIT));
    assert_eq!((s.open_rows(), s.written.get()), (0, 1));
    report(&p, &[bag(200, "GET"), bag(201, "PUT")], &m);
    assert!(archives.seal(WAIT));
    assert_eq!(s.written.get(), 3);
    assert_eq!(s.files_closed(CloseReason::Close), 2);
    assert!(archives.seal(WAIT), "sealing with nothing open is fine");
    let (files, other) = parquet_files(&dir);
    assert!(other.is_empty(), "{other:?}");
    let rows: Vec<usize> = files.iter().map(|f| read(f).num_rows()).collect();
    assert_eq!(rows, [1, 2], "no empty file");
    drop((writer, p));
    assert_eq!(archives.shutdown(WAIT), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn p_params(p: &Pipeline) -> &Params {
    p.handlers()
        .iter()
        .find_map(|h| match h {
            crate::pipeline::Handler::Parquet(h) => Some(h.params()),
            _ => None,
        })
        .expect("a parquet handler")
}

#[test]
fn a_file_is_closed_at_the_size_limit() {
    let dir = temp_dir("size");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&dir, ", compression: UNCOMPRESSED")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    // the smallest limit params allow is 1 MiB; a few bytes make every batch fill a file
    let mut tiny = p_params(&p).clone();
    tiny.limits.max_bytes = 1;
    archives.writer(&tiny).expect("writer");
    let m = TelemetryMetrics::default();
    for code in [200, 201, 202] {
        report(&p, &[bag(code, "GET")], &m);
        assert!(archives.seal(WAIT));
    }
    let s = stats(&archives, &dir);
    assert_eq!(s.files_closed(CloseReason::Size), 3);
    assert_eq!(
        s.files_closed(CloseReason::Close),
        0,
        "sealed nothing left open"
    );
    assert_eq!(s.written.get(), 3);
    let (files, _) = parquet_files(&dir);
    assert_eq!(files.len(), 3);
    drop(p);
    archives.shutdown(WAIT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_is_closed_at_the_age_limit() {
    let dir = temp_dir("age");
    let (now, clock) = manual_clock();
    let archives = Archives::with_clock(clock);
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&dir, ", maxAgeBeforeRotation: 10m")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    let writer = archives.writer(p_params(&p)).expect("writer");
    let m = TelemetryMetrics::default();
    // each report is written before the clock moves on
    report(&p, &[bag(200, "GET")], &m);
    assert!(writer.encoded(WAIT));
    now.fetch_add(599, Relaxed);
    report(&p, &[bag(201, "GET")], &m);
    assert!(writer.encoded(WAIT));
    now.fetch_add(1, Relaxed);
    // ten minutes after the file opened: the next rows close it first
    report(&p, &[bag(202, "GET")], &m);
    drop((writer, p));
    assert_eq!(archives.shutdown(WAIT), 0);
    let s = stats(&archives, &dir);
    assert_eq!(s.files_closed(CloseReason::Age), 1);
    assert_eq!(s.files_closed(CloseReason::Close), 1);
    let (files, _) = parquet_files(&dir);
    let rows: Vec<usize> = files.iter().map(|f| read(f).num_rows()).collect();
    assert_eq!(rows, [2, 1], "{files:?}");
    // names carry the (manual) UTC time each file opened
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            file_name(
                "accesslog",
                UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                1
            ),
            file_name(
                "accesslog",
                UNIX_EPOCH + Duration::from_secs(1_700_000_600),
                2
            ),
        ]
    );
    assert_eq!(names[0], "accesslog-20231114T221320.000Z-1.parquet");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reload_with_other_columns_starts_a_new_file() {
    let dir = temp_dir("reload");
    let archives = Archives::default();
    let m = TelemetryMetrics::default();
    let params = params_for(&dir, "");
    let first = Pipeline::with_sinks(
        config_with("{method: request.method | \"\"}", &params),
        1,
        &sinks(&archives),
    )
    .expect("first");
    report(&first, &[bag(200, "GET")], &m);
    // same columns: the open file is kept
    let same = Pipeline::with_sinks(
        config_with("{method: request.method | \"x\"}", &params),
        2,
        &sinks(&archives),
    )
    .expect("same columns");
    drop(first);
    report(&same, &[bag(200, "PUT")], &m);
    let wider = Pipeline::with_sinks(
        config_with(
            "{method: request.method | \"\", code: response.code | 0}",
            &params,
        ),
        3,
        &sinks(&archives),
    )
    .expect("wider");
    drop(same);
    report(&wider, &[bag(404, "GET")], &m);
    drop(wider);
    assert_eq!(archives.shutdown(WAIT), 0);
    let s = stats(&archives, &dir);
    assert_eq!(s.files_closed(CloseReason::Schema), 1);
    assert_eq!(s.written.get(), 3);
    let (files, other) = parquet_files(&dir);
    assert!(other.is_empty(), "{other:?}");
    let [a, b] = files.as_slice() else {
        panic!("two files: {files:?}")
    };
    let (a, b) = (read(a), read(b));
    assert_eq!(a.num_rows(), 2);
    assert_eq!(a.num_columns(), 4);
    assert_eq!(b.num_rows(), 1);
    assert_eq!(b.schema().field(3).name(), "code");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_queue_drops_newest_and_counts_them() {
    let dir = temp_dir("queue");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&dir, "")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    let mut small = p_params(&p).clone();
    small.queue_bytes = 4096;
    let writer = archives.writer(&small).expect("writer");
    let hold = writer.pause();
    let m = TelemetryMetrics::default();
    let offered = 40;
    for _ in 0..offered {
        report(&p, &[bag(200, "GET")], &m);
    }
    let s = stats(&archives, &dir);
    let dropped = s.dropped_queue_full.get();
    assert!(dropped > 0, "a 4 KiB queue holds fewer than {offered} rows");
    assert!(dropped < offered, "the first rows fit");
    assert!(s.queued_bytes() <= 4096);
    drop(hold);
    drop(writer);
    drop(p);
    assert_eq!(archives.shutdown(WAIT), 0);
    assert_eq!(
        s.written.get() + dropped,
        offered,
        "every row accounted for"
    );
    assert_eq!(s.queued_bytes(), 0);
    let mut text = String::new();
    archives.render_metrics(&mut text);
    let label = format!("archive=\"{}\"", dir.join("accesslog").display());
    assert!(
        text.contains(&format!(
            "mixer_telemetry_parquet_rows_dropped_total{{{label},reason=\"queue_full\"}} {dropped}"
        )),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_errors_are_counted_and_the_next_rows_get_a_new_file() {
    let dir = temp_dir("errors");
    let archive = dir.join("archive");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&archive, "")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    let m = TelemetryMetrics::default();
    report(&p, &[bag(200, "GET")], &m);
    assert!(archives.seal(WAIT));
    // the directory is replaced by a file: no file can be created there
    std::fs::remove_dir_all(&archive).expect("remove");
    std::fs::write(&archive, b"not a directory").expect("file");
    report(&p, &[bag(500, "GET"), bag(501, "GET")], &m);
    assert!(archives.seal(WAIT));
    let s = archives.stats(&archive, "accesslog").expect("stats");
    assert_eq!(s.written.get(), 1);
    assert_eq!(s.failed.get(), 2);
    assert!(s.write_errors.get() >= 1);
    // the directory is back: writing resumes
    std::fs::remove_file(&archive).expect("remove file");
    report(&p, &[bag(200, "GET")], &m);
    drop(p);
    assert_eq!(archives.shutdown(WAIT), 0);
    assert_eq!(s.written.get(), 2);
    assert_eq!(parquet_files(&archive).0.len(), 1);
    // a directory that cannot be made fails the config
    let blocked = dir.join("blocked");
    std::fs::write(&blocked, b"x").expect("file");
    let err = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&blocked.join("sub"), "")),
        1,
        &sinks(&archives),
    )
    .expect_err("cannot create the directory");
    assert!(err.to_string().contains("cannot create"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rows_after_shutdown_are_dropped_and_counted() {
    let dir = temp_dir("after");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(
        config_with(VARIABLES, &params_for(&dir, "")),
        1,
        &sinks(&archives),
    )
    .expect("pipeline");
    let m = TelemetryMetrics::default();
    report(&p, &[bag(200, "GET")], &m);
    assert_eq!(archives.shutdown(WAIT), 0);
    report(&p, &[bag(200, "GET")], &m);
    let s = stats(&archives, &dir);
    assert_eq!(s.written.get(), 1);
    assert_eq!(s.dropped_shutdown.get(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
