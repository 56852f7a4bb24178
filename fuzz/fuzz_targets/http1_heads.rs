//! Arbitrary bytes as what an HTTP/1.1 client or upstream sends the sidecar's native path:
//! a request head, a response head (to GET and to HEAD), and a chunked body. Never a panic;
//! a request left to hyper leaves every byte for hyper to read; a head taken takes exactly
//! its own bytes; and the chunked scanner gives the same answer however the bytes are split.
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
        if let Ok(Some((_, raw))) = wire::parse_response(&mut buf, head_request, &mut scratch) {
            assert_eq!(raw.len() + buf.len(), data.len());
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
});
