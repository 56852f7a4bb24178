//! The text exposition format 0.0.4, byte for byte as client_golang's `expfmt` writes it:
//! families sorted by name, `# HELP` (escaped `\\`, `\n`) then `# TYPE`, series sorted by
//! label values with labels in name order, label values escaped (`\\`, `\"`, `\n`), histograms
//! as cumulative `_bucket{le=…}` lines ending with `+Inf`, then `_sum` and `_count`, and every
//! number (bucket bounds and counts included) as Go's `strconv.FormatFloat(v, 'g', -1, 64)`.
//! Families without series are left out, as client_golang's `Gather` leaves them out.

use super::adapter::{lock, PrometheusHandler};
use super::config::Kind;
use super::labels;
use super::stringify::push_i64;
use std::fmt::Write;

/// `Content-Type` of [`PrometheusHandler::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl PrometheusHandler {
    /// Appends every family to `out` (reuse `out` across scrapes: no allocation per sample).
    pub fn render(&self, out: &mut String) {
        self.render_chunked(out, usize::MAX, |_| true);
    }

    /// Renders like [`render`](Self::render), but whenever `out` holds `chunk` bytes or more
    /// (checked after each series), hands it to `flush`, which takes or clears it; a scrape of
    /// any size then needs only about `chunk` bytes of text at a time. `flush` runs with no
    /// lock held (a slow scraper does not hold up Reports); the family then resumes after the
    /// last series written, so series added meanwhile may or may not appear, none twice.
    /// `flush` returning false (the scraper went away) stops the rendering; returns false then.
    pub fn render_chunked(
        &self,
        out: &mut String,
        chunk: usize,
        mut flush: impl FnMut(&mut String) -> bool,
    ) -> bool {
        let layout = &self.layout;
        // One series' `{name="value",…` (escaped, no closing brace), written once per series.
        let mut block = String::new();
        for &f in &layout.render_order {
            let fam = &layout.families[f];
            let group = &layout.groups[fam.group];
            let mut wrote_header = false;
            // Where a paused family resumes: after the last series written (by label order).
            let mut resume: Option<(Box<str>, Box<[u32]>)> = None;
            loop {
                let mut guard = lock(&self.shared[fam.group]);
                guard.sort();
                let shared = &*guard;
                let start = resume
                    .as_ref()
                    .map_or(0, |(t, e)| shared.position_after(t, e));
                let mut paused = false;
                for &i in &shared.order()[start..] {
                    let s = &shared.series[i as usize];
                    let c = &s.cells[fam.slot];
                    if c.updated.is_none() {
                        continue;
                    }
                    if !wrote_header {
                        header(out, &fam.name, &fam.help, fam.kind);
                        wrote_header = true;
                    }
                    block.clear();
                    for (j, (name, _)) in group.labels.iter().enumerate() {
                        block.push(if j == 0 { '{' } else { ',' });
                        block.push_str(name);
                        block.push_str("=\"");
                        escape(&mut block, labels::value(&s.text, &s.ends, j), true);
                        block.push('"');
                    }
                    let sample = |out: &mut String, suffix: &str, le: Option<f64>, v: f64| {
                        out.push_str(&fam.name);
                        out.push_str(suffix);
                        out.push_str(&block);
                        if let Some(le) = le {
                            out.push_str(if block.is_empty() { "{le=\"" } else { ",le=\"" });
                            write_float(out, le);
                            out.push_str("\"}");
                        } else if !block.is_empty() {
                            out.push('}');
                        }
                        out.push(' ');
                        write_float(out, v);
                        out.push('\n');
                    };
                    match fam.kind {
                        Kind::Counter | Kind::Gauge => sample(out, "", None, c.value),
                        Kind::Distribution => {
                            let mut cumulative = 0u64;
                            for (b, n) in fam.bounds.iter().zip(c.buckets.iter()) {
                                cumulative += n;
                                sample(out, "_bucket", Some(*b), cumulative as f64);
                            }
                            sample(out, "_bucket", Some(f64::INFINITY), c.count as f64);
                            sample(out, "_sum", None, c.value);
                            sample(out, "_count", None, c.count as f64);
                        }
                    }
                    if out.len() >= chunk {
                        resume = Some((s.text.clone(), s.ends.clone()));
                        paused = true;
                        break;
                    }
                }
                // Flush with the lock released: a slow scraper must not hold up Reports.
                drop(guard);
                if !paused {
                    break;
                }
                if !flush(out) {
                    return false;
                }
            }
        }
        true
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: Kind) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape(out, help, false);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push_str(match kind {
        Kind::Counter => " counter\n",
        Kind::Gauge => " gauge\n",
        Kind::Distribution => " histogram\n",
    });
}

/// `\` → `\\`, newline → `\n`, and with `quote` `"` → `\"`.
fn escape(out: &mut String, s: &str, quote: bool) {
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Whether `s` holds a `\\`, a newline or a `"`, eight bytes at a time.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        if has(w, b'\\') || has(w, b'\n') || has(w, b'"') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b == b'\\' || b == b'\n' || b == b'"')
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` with expfmt's `+Inf`/`-Inf`/`NaN`: the shortest
/// digits that round-trip, in `%e` form (`1e+06`, `1.5e-05`) when the decimal exponent is
/// below -4 or at least 6, else plain (`100000`, `0.0001`, `2.5`).
pub fn write_float(out: &mut String, v: f64) {
    if v == 0.0 {
        out.push('0');
        return;
    }
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        push_i64(out, v as i64);
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: `-1.2345e-7`.
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{v:e}");
    let text = buf.as_str();
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    if neg {
        out.push('-');
    }
    let digits = DigitIter(mantissa);
    let nd = digits.count();
    if !(-4..6).contains(&exp) {
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        if exp.abs() < 10 {
            out.push('0');
        }
        push_i64(out, i64::from(exp.abs()));
        return;
    }
    // %f with exactly the significant digits: dp digits before the point.
    let dp = exp + 1;
    if dp <= 0 {
        out.push_str("0.");
        (0..-dp).for_each(|_| out.push('0'));
        DigitIter(mantissa).for_each(|d| out.push(d));
    } else {
        for (i, d) in DigitIter(mantissa).enumerate() {
            if i as i32 == dp {
                out.push('.');
            }
            out.push(d);
        }
        (nd as i32..dp).for_each(|_| out.push('0'));
    }
}

/// The digits of a mantissa such as `1.2345`, without the point.
struct DigitIter<'a>(&'a str);

impl Iterator for DigitIter<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        loop {
            let mut chars = self.0.chars();
            let c = chars.next()?;
            self.0 = chars.as_str();
            if c != '.' {
                return Some(c);
            }
        }
    }
}

/// A fixed buffer for one formatted float.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        StackBuf {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
