//! An output file, rotated as Istio's stdio adapter rotates it (through lumberjack): when a
//! write would take the file past `max_bytes`, the file is renamed to a backup named by the
//! UTC time of the rotation — `access.log` becomes `access-2024-05-01T10-00-00.000.log` — and
//! output resumes in a new `access.log`; then backups beyond `max_backups` (the oldest first)
//! and backups older than `max_age` are deleted. Two additions: a file older than `max_age`
//! is rotated too (the param is called `maxDaysBeforeRotation`), and rotation happens
//! between lines only, so every file holds whole lines (a single line longer than
//! `max_bytes` gets a file of its own).

use super::format::civil;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a file is rotated and how many backups stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    /// `None`: no age limit.
    pub max_age: Option<Duration>,
    /// 0: keep every backup.
    pub max_backups: usize,
}

/// An open output file, appended to.
#[derive(Debug)]
pub struct FileOut {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    /// When the file was created (or first opened by us, when the filesystem does not say).
    born: SystemTime,
}

impl FileOut {
    /// Opens `path` for appending, creating it and its directory if needed.
    pub fn open(path: &Path) -> io::Result<FileOut> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create its directory {}: {e}", dir.display()),
                )
            })?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        Ok(FileOut {
            path: path.to_owned(),
            size: meta.len(),
            born: meta.created().unwrap_or_else(|_| SystemTime::now()),
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// Writes whole lines, rotating first whenever `rotation` says so. Returns the number of
    /// rotations done.
    pub fn write(&mut self, mut data: &[u8], rotation: Option<&Rotation>) -> io::Result<u32> {
        let Some(r) = rotation else {
            self.out.write_all(data)?;
            self.size += data.len() as u64;
            return Ok(0);
        };
        let mut rotations = 0;
        if self.size > 0 && r.max_age.is_some_and(|age| self.age() >= age) {
            self.rotate(r)?;
            rotations += 1;
        }
        while !data.is_empty() {
            let room = usize::try_from(r.max_bytes.saturating_sub(self.size)).unwrap_or(usize::MAX);
            let fit = if data.len() <= room {
                data.len()
            } else {
                data[..room]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)
            };
            let take = if fit > 0 {
                fit
            } else if self.size > 0 {
                self.rotate(r)?;
                rotations += 1;
                continue;
            } else {
                // one line longer than a whole file
                data.iter()
                    .position(|b| *b == b'\n')
                    .map_or(data.len(), |i| i + 1)
            };
            self.out.write_all(&data[..take])?;
            self.size += take as u64;
            data = &data[take..];
        }
        Ok(rotations)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.born)
            .unwrap_or_default()
    }

    /// Renames the file to a backup, opens a new one and deletes what the limits exclude.
    fn rotate(&mut self, r: &Rotation) -> io::Result<()> {
        self.out.flush()?;
        let now = SystemTime::now();
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // names order the backups: a second rotation within a millisecond goes after the first
        let newest = backups(&self.path)?.first().map_or(i64::MIN, |(ms, _)| *ms);
        let backup = backup_name(&self.path, now_ms.max(newest.saturating_add(1)));
        fs::rename(&self.path, &backup)?;
        let fresh = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.out = BufWriter::with_capacity(64 * 1024, fresh);
        self.size = 0;
        self.born = now;
        if let Err(e) = remove_old_backups(&self.path, r, now) {
            tracing::warn!(path = %self.path.display(), error = %e, "access log: cannot delete old backups");
        }
        Ok(())
    }
}

/// `dir/stem-2006-01-02T15-04-05.000.ext` for a rotation at `millis` (UTC), as lumberjack.
pub fn backup_name(path: &Path, millis: i64) -> PathBuf {
    let (stem, ext) = split_name(path);
    let (y, mo, d, h, mi, s) = civil(millis.div_euclid(1000));
    let ms = millis.rem_euclid(1000);
    path.with_file_name(format!(
        "{stem}-{y:04}-{mo:02}-{d:02}T{h:02}-{mi:02}-{s:02}.{ms:03}{ext}"
    ))
}

/// The file name without and with its extension (`access`, `.log`).
fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rfind('.').filter(|i| *i > 0) {
        Some(i) => (name[..i].to_owned(), name[i..].to_owned()),
        None => (name, String::new()),
    }
}

/// The backups of `path`, newest first, with their rotation time in ms since the epoch.
pub fn backups(path: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let (stem, ext) = split_name(path);
    let prefix = format!("{stem}-");
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_owned(),
        None => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stamp) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(ext.as_str()))
        else {
            continue;
        };
        if let Some(ms) = parse_stamp(stamp) {
            out.push((ms, entry.path()));
        }
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.0));
    Ok(out)
}

/// `2006-01-02T15-04-05.000` → ms since the epoch.
fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 23 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'.' {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (h, mi, sec, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    if b[13] != b'-' || b[16] != b'-' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    // days_from_civil
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms)
}

fn remove_old_backups(path: &Path, r: &Rotation, now: SystemTime) -> io::Result<()> {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let oldest = r
        .max_age
        .map(|a| now_ms.saturating_sub(i64::try_from(a.as_millis()).unwrap_or(i64::MAX)));
    for (i, (ms, file)) in backups(path)?.into_iter().enumerate() {
        let extra = r.max_backups > 0 && i >= r.max_backups;
        let old = oldest.is_some_and(|o| ms < o);
        if extra || old {
            fs::remove_file(&file)?;
        }
    }
    Ok(())
}
