//! How far a body has been forwarded, by its framing: how many of the bytes at hand belong
//! to it, whether it has ended, and how many data bytes it carried.

use super::chunked::{BadChunk, Scanner};
use super::wire::Framing;
use std::ops::Range;

#[derive(Debug)]
pub enum Progress {
    Length {
        left: u64,
        data: u64,
    },
    Chunked(Scanner),
    /// Read until the sender closes: never done by its bytes.
    Close {
        data: u64,
    },
}

impl Progress {
    pub fn new(framing: Framing) -> Progress {
        match framing {
            Framing::Empty => Progress::Length { left: 0, data: 0 },
            Framing::Length(n) => Progress::Length { left: n, data: 0 },
            Framing::Chunked => Progress::Chunked(Scanner::default()),
            Framing::Close => Progress::Close { data: 0 },
        }
    }

    /// How many of `bytes` (the next ones read) the body takes up to its next data, and
    /// where the data lies among them: the body decoded (a chunked body without its framing;
    /// any other's bytes are its data). See [`Scanner::next_data`].
    pub fn next_data(&mut self, bytes: &[u8]) -> Result<(usize, Range<usize>), BadChunk> {
        match self {
            Progress::Chunked(scanner) => scanner.next_data(bytes),
            framed => {
                let n = framed.take(bytes)?;
                Ok((n, 0..n))
            }
        }
    }

    /// How many of `bytes` (the next ones read) belong to the body.
    pub fn take(&mut self, bytes: &[u8]) -> Result<usize, BadChunk> {
        match self {
            Progress::Length { left, data } => {
                let n = usize::try_from(*left).map_or(bytes.len(), |l| l.min(bytes.len()));
                *left -= n as u64;
                *data += n as u64;
                Ok(n)
            }
            Progress::Chunked(scanner) => scanner.scan(bytes),
            Progress::Close { data } => {
                *data += bytes.len() as u64;
                Ok(bytes.len())
            }
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Progress::Length { left, .. } => *left == 0,
            Progress::Chunked(scanner) => scanner.is_done(),
            Progress::Close { .. } => false,
        }
    }

    pub fn is_close_delimited(&self) -> bool {
        matches!(self, Progress::Close { .. })
    }

    /// Data bytes so far (a chunked body's without its framing).
    pub fn data(&self) -> u64 {
        match self {
            Progress::Length { data, .. } | Progress::Close { data } => *data,
            Progress::Chunked(scanner) => scanner.data,
        }
    }
}
