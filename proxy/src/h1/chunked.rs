//! Finding the end of a chunked body (RFC 9112 §7.1) in the bytes as they pass, and the data
//! among them: the native path forwards chunked bodies as they came ([`Scanner::scan`] finds
//! where each ends and counts its data), and decodes those it hands to HTTP/2 clients
//! ([`Scanner::next_data`]).

use std::ops::Range;

/// Where the scan is within a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the chunk size's hex digits.
    Size {
        digits: u8,
    },
    /// After the size: extensions (skipped) up to CR LF.
    Extension,
    /// Inside a chunk's data.
    Data {
        left: u64,
    },
    /// The CR LF after a chunk's data.
    DataCr,
    DataLf,
    /// At the start of a trailer line (after the last chunk); an empty line ends the body.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF of the final empty line.
    EndLf,
    Done,
}

/// A chunked body's framing is broken.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

/// Scans a chunked body.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    size: u64,
    /// Data bytes seen (the body's decoded size).
    pub data: u64,
    last: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Size { digits: 0 },
            size: 0,
            data: 0,
            last: false,
        }
    }
}

impl Scanner {
    /// Scans `bytes`: how many of them belong to the body (all of them, unless it ends
    /// within them).
    pub fn scan(&mut self, bytes: &[u8]) -> Result<usize, BadChunk> {
        let mut i = 0;
        while i < bytes.len() && !self.is_done() {
            i += self.next_data(&bytes[i..])?.0;
        }
        Ok(i)
    }

    /// Scans `bytes` up to the end of the next run of data: how many of them it went
    /// through, and where among those the data lies (an empty range when there was none:
    /// the bytes were all framing, or the body ended). Decoding a chunked body is calling
    /// this until [`Scanner::is_done`], keeping the data.
    pub fn next_data(&mut self, bytes: &[u8]) -> Result<(usize, Range<usize>), BadChunk> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Size { digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        // 16 hex digits fill a u64
                        if digits >= 16 {
                            return Err(BadChunk);
                        }
                        let d = (b as char).to_digit(16).ok_or(BadChunk)?;
                        self.size = self.size * 16 + u64::from(d);
                        self.state = State::Size { digits: digits + 1 };
                    }
                    b';' | b' ' | b'\t' | b'\r' if digits > 0 => {
                        self.state = State::Extension;
                        continue;
                    }
                    _ => return Err(BadChunk),
                },
                State::Extension => {
                    if b == b'\n' {
                        if self.size == 0 {
                            self.last = true;
                            self.state = State::TrailerStart;
                        } else {
                            self.state = State::Data { left: self.size };
                        }
                        self.size = 0;
                    }
                }
                State::Data { left } => {
                    let n = (bytes.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.data += n as u64;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    return Ok((i + n, i..i + n));
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(BadChunk);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::TrailerStart => match b {
                    b'\r' => self.state = State::EndLf,
                    b'\n' => {
                        self.state = State::Done;
                        return Ok((i + 1, i + 1..i + 1));
                    }
                    _ => self.state = State::Trailer,
                },
                State::Trailer => {
                    if b == b'\n' {
                        self.state = State::TrailerStart;
                    }
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(BadChunk);
                    }
                    self.state = State::Done;
                    return Ok((i + 1, i + 1..i + 1));
                }
                State::Done => return Ok((i, i..i)),
            }
            i += 1;
        }
        Ok((i, i..i))
    }

    /// The last chunk and the trailers have been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The last (zero-size) chunk has begun.
    pub fn saw_last(&self) -> bool {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> Result<(usize, u64), BadChunk> {
        let mut s = Scanner::default();
        let n = s.scan(body)?;
        assert!(s.is_done(), "ended");
        Ok((n, s.data))
    }

    #[test]
    fn finds_the_end_and_counts_the_data() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /next";
        assert_eq!(whole(body), Ok((body.len() - 9, 11)));
        let trailers = b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\nx: y\r\n\r\n";
        assert_eq!(whole(trailers), Ok((trailers.len(), 3)));
        assert_eq!(whole(b"A\r\n0123456789\r\n0\r\n\r\n"), Ok((20, 10)));
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_answer() {
        let body = b"4\r\nwiki\r\n5\r\npedia\r\n0;x\r\nt: 1\r\n\r\nrest";
        let end = body.len() - 4;
        for cut in 0..body.len() {
            let mut s = Scanner::default();
            let first = s.scan(&body[..cut]).expect("first part");
            assert_eq!(first, cut.min(end), "cut at {cut}");
            let second = s.scan(&body[cut..]).expect("second part");
            assert_eq!(first + second, end, "cut at {cut}");
            assert!(s.is_done());
            assert_eq!(s.data, 9);
        }
    }

    #[test]
    fn broken_framing_is_an_error() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"11111111111111111\r\n",
            b"0\r\n\rX",
        ] {
            let mut s = Scanner::default();
            assert_eq!(s.scan(bad), Err(BadChunk), "{bad:?}");
        }
    }

    #[test]
    fn decoding_keeps_the_data_and_drops_the_framing() {
        let body = b"4\r\nwiki\r\n5;x=1\r\npedia\r\n0\r\nt: 1\r\n\r\nrest";
        for cut in 0..body.len() {
            let mut s = Scanner::default();
            let mut data = Vec::new();
            let mut used = 0;
            for part in [&body[..cut], &body[cut..]] {
                let mut i = 0;
                while i < part.len() && !s.is_done() {
                    let (n, range) = s.next_data(&part[i..]).expect("well framed");
                    data.extend_from_slice(&part[i..][range]);
                    i += n;
                }
                used += i;
            }
            assert_eq!(data, b"wikipedia", "cut at {cut}");
            assert_eq!(used, body.len() - 4, "cut at {cut}");
            assert!(s.is_done());
        }
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let mut s = Scanner::default();
        assert_eq!(s.scan(b"5\r\nhel"), Ok(6));
        assert!(!s.is_done());
        assert_eq!(s.data, 3);
    }
}
