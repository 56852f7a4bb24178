//! Rotation of a file by size and age, straight on `FileOut`: whole lines per file, the newest
//! backups kept, lumberjack's backup names, old backups deleted.

use super::super::rotate::{backup_name, backups, FileOut};
use super::super::Rotation;
use super::{read_lines, temp_dir};
use std::path::Path;
use std::time::Duration;

/// Lines of `n` bytes (newline included) numbered from `from`.
fn numbered(from: usize, count: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..from + count {
        let head = format!("{i:06} ");
        out.extend_from_slice(head.as_bytes());
        out.extend(std::iter::repeat_n(b'x', n - head.len() - 1));
        out.push(b'\n');
    }
    out
}

#[test]
fn rotation_by_size_keeps_the_newest_backups_of_whole_lines() {
    let dir = temp_dir("rotate");
    let path = dir.join("access.log");
    let r = Rotation {
        max_bytes: 1000,
        max_age: None,
        max_backups: 2,
    };
    let mut f = FileOut::open(&path).expect("open");
    let mut rotations = 0;
    // 30 lines of 100 bytes in chunks of 7: 3 files' worth plus some
    for chunk in 0..5 {
        rotations += f
            .write(&numbered(chunk * 7, 7, 100), Some(&r))
            .expect("write");
        f.flush().expect("flush");
    }
    assert_eq!(rotations, 3);
    let kept = backups(&path).expect("backups");
    assert_eq!(kept.len(), 2, "{kept:?}");
    // newest backup: lines 20..29, the older one 10..19; the current file 30..34
    let lines = |p: &Path| {
        read_lines(p)
            .iter()
            .map(|l| l[..6].to_owned())
            .collect::<Vec<_>>()
    };
    let want = |a: usize, b: usize| (a..b).map(|i| format!("{i:06}")).collect::<Vec<_>>();
    assert_eq!(lines(&kept[0].1), want(20, 30));
    assert_eq!(lines(&kept[1].1), want(10, 20));
    assert_eq!(lines(&path), want(30, 35));
    for (_, b) in &kept {
        assert!(std::fs::metadata(b).expect("backup").len() <= 1000);
    }
    // the names are lumberjack's and sort by time
    let name = kept[0]
        .1
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("access-") && name.ends_with(".log"),
        "{name}"
    );
    assert_eq!(
        backup_name(Path::new("/l/access.log"), 1_548_332_231_855),
        Path::new("/l/access-2019-01-24T12-17-11.855.log")
    );
}

#[test]
fn a_line_longer_than_a_file_gets_a_file_of_its_own() {
    let dir = temp_dir("long");
    let path = dir.join("a");
    let r = Rotation {
        max_bytes: 50,
        max_age: None,
        max_backups: 0,
    };
    let mut f = FileOut::open(&path).expect("open");
    let mut data = numbered(0, 1, 20);
    data.extend(numbered(1, 1, 120));
    data.extend(numbered(2, 1, 20));
    assert_eq!(f.write(&data, Some(&r)).expect("write"), 2);
    f.flush().expect("flush");
    let kept = backups(&path).expect("backups");
    assert_eq!(kept.len(), 2);
    assert_eq!(std::fs::metadata(&kept[0].1).expect("long").len(), 120);
    assert_eq!(std::fs::metadata(&path).expect("current").len(), 20);
}

#[test]
fn backups_older_than_max_age_are_deleted_on_rotation() {
    let dir = temp_dir("age");
    let path = dir.join("access.log");
    let old = backup_name(&path, 1_000_000_000_000); // 2001
    std::fs::write(&old, "old\n").expect("old backup");
    let unrelated = dir.join("access-notes.log");
    std::fs::write(&unrelated, "keep\n").expect("other file");
    let r = Rotation {
        max_bytes: 10,
        max_age: Some(Duration::from_secs(86_400)),
        max_backups: 0,
    };
    let mut f = FileOut::open(&path).expect("open");
    f.write(b"0123456789\nabc\n", Some(&r)).expect("write");
    f.flush().expect("flush");
    assert!(!old.exists(), "the 2001 backup is past a day");
    assert!(unrelated.exists(), "not a backup name");
    assert_eq!(backups(&path).expect("backups").len(), 1);
}
