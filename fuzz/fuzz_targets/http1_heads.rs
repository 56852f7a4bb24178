//! Arbitrary bytes as what an HTTP/1.1 client or upstream sends the sidecar's native path:
//! a request head, a response head (to GET and to HEAD; written back out), and a chunked
//! body (scanned and decoded). Never a panic; a request left to hyper leaves every byte for
//! hyper to read; a head taken takes exactly its own bytes; the chunked scanner gives the
//! same answer however the bytes are split, and decoding keeps as many bytes as it counts.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mixer_proxy::h1::chunked::Scanner;
use mixer_proxy::h1::wire::{self, Parsed, Scratch};

fuzz_target!(|data: &[u8]| {
    let mut scratch = Scratch::default();
    let mut buf = BytesMut::from(data);
    match wire::parse_request(&mut buf, &mut scratch) {
        Parsed::Head(_, len) => assert_eq!(&buf[..], &data[len..], "the head's bytes only"),
        Parsed::Partial | Parsed::Elsewhere(_) => assert_eq!(&buf[..], data, "nothing taken"),
    }
    for head_request in [false, true] {
        let mut buf = BytesMut::from(data);
        if let Ok(Some(head)) = wire::parse_response(&mut buf, head_request, &mut scratch) {
            assert_eq!(head.headers.raw().len() + buf.len(), data.len());
            let keep = head.headers.end_to_end(head.body);
            let mut out = Vec::new();
            wire::write_raw_response_head(&mut out, head.status, &head.headers, keep, head.body, false);
            head.headers.recycle(&mut scratch);
        }
    }
    let whole = {
        let mut s = Scanner::default();
        s.scan(data).map(|n| (n, s.is_done(), s.data))
    };
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut s = Scanner::default();
    let split = s.scan(&data[..cut]).and_then(|first| {
        if first < cut {
            // ended within the first part
            return Ok((first, s.is_done(), s.data));
        }
        let second = s.scan(&data[cut..])?;
        Ok((first + second, s.is_done(), s.data))
    });
    if let (Ok(w), Ok(p)) = (&whole, &split) {
        assert_eq!(w, p, "split at {cut}");
    }
    assert_eq!(whole.is_ok(), split.is_ok(), "split at {cut}");
    // decoding goes as far as scanning, and keeps as many data bytes as it counts
    let mut s = Scanner::default();
    let (mut used, mut kept) = (0, 0u64);
    let decoded = loop {
        if used == data.len() || s.is_done() {
            break Ok(());
        }
        match s.next_data(&data[used..]) {
            Ok((n, range)) => {
                assert!(range.end <= n && range.start <= range.end);
                kept += range.len() as u64;
                used += n;
            }
            Err(e) => break Err(e),
        }
    };
    if let (Ok(()), Ok((n, done, count))) = (&decoded, &whole) {
        assert_eq!((used, s.is_done(), kept), (*n, *done, *count));
    }
    assert_eq!(decoded.is_ok(), whole.is_ok());
});
