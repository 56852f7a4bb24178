//! One archive file being written: `<prefix>-<UTC time opened>-<n>.parquet.tmp` in the
//! handler's directory, renamed to `….parquet` once its footer is written, so a reader listing
//! `*.parquet` never sees a partial file. `n` makes names unique when two files open within a
//! millisecond (or a name is taken already); names sort by opening time.

use super::config::{Compression, FileLimits};
use crate::adapters::stdio::civil;
use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression as Codec;
use ::parquet::errors::ParquetError;
use ::parquet::file::properties::WriterProperties;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Parquet { path: String, source: ParquetError },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn parquet_error(path: &Path) -> impl FnOnce(ParquetError) -> FileError + '_ {
    move |source| FileError::Parquet {
        path: path.display().to_string(),
        source,
    }
}

/// An open file, its rows not yet readable.
pub(crate) struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    pub(crate) opened: SystemTime,
    pub(crate) rows: u64,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("tmp", &self.tmp)
            .field("rows", &self.rows)
            .finish()
    }
}

/// `<prefix>-20240501T100000.000Z-<n>.parquet` for a file opened at `at`.
pub fn file_name(prefix: &str, at: SystemTime, n: u64) -> String {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (y, mo, d, h, mi, s) = civil(ms.div_euclid(1000));
    let frac = ms.rem_euclid(1000);
    format!("{prefix}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{frac:03}Z-{n}.parquet")
}

impl OpenFile {
    /// Creates the next file of `prefix` in `dir` (and `dir` if missing) for `schema`; `seq`
    /// is the writer's file counter, advanced past names already taken.
    pub(crate) fn create(
        dir: &Path,
        prefix: &str,
        at: SystemTime,
        seq: &mut u64,
        schema: &SchemaRef,
        limits: &FileLimits,
    ) -> Result<OpenFile, FileError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let (path, tmp, file) = loop {
            *seq += 1;
            let path = dir.join(file_name(prefix, at, *seq));
            let mut tmp = path.clone().into_os_string();
            tmp.push(".tmp");
            let tmp = PathBuf::from(tmp);
            if path.exists() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => break (path, tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error(&tmp)(e)),
            }
        };
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(limits.row_group_rows.max(1)))
            .set_compression(match limits.compression {
                Compression::Snappy => Codec::SNAPPY,
                Compression::Uncompressed => Codec::UNCOMPRESSED,
            })
            .set_created_by(concat!("mixer ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let writer = match ArrowWriter::try_new(file, schema.clone(), Some(props)) {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(parquet_error(&tmp)(e));
            }
        };
        Ok(OpenFile {
            writer,
            tmp,
            path,
            opened: at,
            rows: 0,
        })
    }

    /// Encodes `batch` (row groups go to disk as they fill).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        self.writer.write(batch).map_err(parquet_error(&self.tmp))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// About the size the file would have if closed now.
    pub(crate) fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the footer, syncs and renames the file to its final name, which it returns.
    /// On failure the partial file is removed.
    pub(crate) fn close(self) -> Result<PathBuf, FileError> {
        let OpenFile {
            writer, tmp, path, ..
        } = self;
        let done = writer
            .into_inner()
            .map_err(parquet_error(&tmp))
            .and_then(|f| f.sync_all().map_err(io_error(&tmp)))
            .and_then(|()| fs::rename(&tmp, &path).map_err(io_error(&path)));
        match done {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Gives the file up after a write error: removes it.
    pub(crate) fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = fs::remove_file(tmp);
    }
}
