//! The wire framing [`LazyCheck`](super::LazyCheck) reads without the general [`Reader`]: the
//! fields, map entries and varints as encoders write them for values under 16 KiB (one-byte
//! keys, one- or two-byte lengths and indexes). Each helper gives the general reader's result
//! on what it accepts and `None` — or the general reader's answer — on anything else.

use crate::wire::Reader;

/// The commonest map entry — key, then varint value, each under 2^14 — as
/// [`canonical_entry`](super::super::attributes::canonical_entry) reads it, without a reader.
/// `varint`: the value is a varint (not a `double`).
#[inline(always)]
pub(super) fn small_entry(entry: &[u8], varint: bool) -> Option<(u64, u64)> {
    let [0x08, ref rest @ ..] = *entry else {
        return None;
    };
    let (key, rest) = small_varint(rest)?;
    let [0x10, ref rest @ ..] = *rest else {
        return None;
    };
    let (value, rest) = small_varint(rest)?;
    (varint && rest.is_empty()).then_some((key, value))
}

/// The commonest entry of a map to a message or `bytes` — key under 2^14, then the value as
/// a field 2 under 16 KiB — as [`map_entry`](super::super::attributes::map_entry) reads it
/// (and the value's bytes), without a reader: the key and the value's payload.
#[inline(always)]
pub(super) fn small_message_entry(entry: &[u8]) -> Option<(u64, &[u8])> {
    let [0x08, ref rest @ ..] = *entry else {
        return None;
    };
    let (key, rest) = small_varint(rest)?;
    let [0x12, ref rest @ ..] = *rest else {
        return None;
    };
    let (len, payload) = small_varint(rest)?;
    (payload.len() as u64 == len).then_some((key, payload))
}

/// A whole map-entry field as encoders write the small ones — `tag`, a one-byte length, then
/// the key (field 1) and the value (field 2) as one- or two-byte varints — decoded from the
/// field's first 8 bytes at once: the key, the value and the bytes after the field. The same
/// key and value as [`next_field`] then [`small_entry`] read; `None` when the field is
/// written otherwise or fewer than 8 bytes are left (the caller then reads it that way).
#[inline(always)]
pub(super) fn packed_entry(bytes: &[u8], tag: u8) -> Option<(u32, u32, &[u8])> {
    let (head, _) = bytes.split_first_chunk::<8>()?;
    let w = u64::from_le_bytes(*head);
    // byte 0 the field's tag, byte 1 its length, byte 2 the key's tag
    if w & 0x00ff_00ff != u64::from(tag) | 0x0008_0000 {
        return None;
    }
    let (key, key_len) = two_byte_varint((w >> 24) as u16)?;
    // from the value's tag on
    let value = w >> (24 + 8 * key_len);
    if value & 0xff != 0x10 {
        return None;
    }
    let (value, value_len) = two_byte_varint((value >> 8) as u16)?;
    let entry_len = 1 + key_len + 1 + value_len;
    if (w >> 8) & 0xff != u64::from(entry_len) {
        return None;
    }
    Some((key, value, bytes.get(2 + entry_len as usize..)?))
}

/// The varint at the start of two little-endian bytes, when it is one or two bytes long: its
/// value and length.
#[inline(always)]
fn two_byte_varint(bytes: u16) -> Option<(u32, u32)> {
    if bytes & 0x80 == 0 {
        Some((u32::from(bytes & 0x7f), 1))
    } else if bytes & 0x8000 == 0 {
        Some((u32::from(bytes & 0x7f) | u32::from(bytes >> 8) << 7, 2))
    } else {
        None
    }
}

/// A varint of one or two bytes, as [`Reader::varint`] reads it.
#[inline(always)]
fn small_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    match *bytes {
        [b, ref rest @ ..] if b < 0x80 => Some((u64::from(b), rest)),
        [b0, b1, ref rest @ ..] if b1 < 0x80 => {
            Some((u64::from(b0 & 0x7f) | (u64::from(b1) << 7), rest))
        }
        _ => None,
    }
}

/// A field read off the front of some bytes: its number, its payload when it is
/// length-delimited, and the bytes after it.
pub(super) struct Next<'a> {
    pub number: u32,
    pub payload: Option<&'a [u8]>,
    pub rest: &'a [u8],
}

/// The first field of `bytes`; `Some(None)` at the end, `None` when it is malformed. Fields
/// framed the way encoders write those under 16 KiB — a one-byte key, a one- or two-byte
/// length — are read without a [`Reader`], with its result.
#[inline(always)]
pub(super) fn next_field(bytes: &[u8]) -> Option<Option<Next<'_>>> {
    let (key, len, tail) = match *bytes {
        [] => return Some(None),
        [key, len, ref tail @ ..] if len < 0x80 => (key, usize::from(len), tail),
        [key, l0, l1, ref tail @ ..] if l0 >= 0x80 && l1 < 0x80 => {
            (key, usize::from(l0 & 0x7f) | usize::from(l1) << 7, tail)
        }
        _ => return next_general(bytes).map(Some),
    };
    // wire type 2, field 1..=15, no continuation bit
    if key & 0x87 != 0x02 || key < 0x08 {
        return next_general(bytes).map(Some);
    }
    let (payload, rest) = tail.split_at_checked(len)?;
    Some(Some(Next {
        number: u32::from(key >> 3),
        payload: Some(payload),
        rest,
    }))
}

#[inline(never)]
fn next_general(bytes: &[u8]) -> Option<Next<'_>> {
    let mut r = Reader::new(bytes);
    let field = r.field()?.ok()?;
    Some(Next {
        number: field.number,
        payload: field.bytes().ok(),
        rest: r.remaining(),
    })
}

/// Hands `f` every field of `bytes` (see [`next_field`]); `None` when one is malformed or `f`
/// says so.
#[inline(always)]
pub(super) fn each_field<'a>(
    mut bytes: &'a [u8],
    mut f: impl FnMut(u32, Option<&'a [u8]>) -> Option<()>,
) -> Option<()> {
    while let Some(next) = next_field(bytes)? {
        f(next.number, next.payload)?;
        bytes = next.rest;
    }
    Some(())
}

/// The bytes after the leading word fields (field 1) of a `CompressedAttributes`; `None`
/// when one of them is malformed.
#[inline(always)]
pub(super) fn after_words(mut rest: &[u8]) -> Option<&[u8]> {
    loop {
        rest = match *rest {
            [0x0a, len, ref tail @ ..] if len < 0x80 => tail.get(usize::from(len)..)?,
            _ => match next_field(rest)? {
                Some(Next {
                    number: 1, rest, ..
                }) => rest,
                _ => return Some(rest),
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`packed_entry`] must agree with: the field read by [`next_field`], its payload
    /// by [`small_entry`].
    fn framed(bytes: &[u8], tag: u8) -> Option<(u32, u32, &[u8])> {
        let next = next_field(bytes)??;
        if next.number != u32::from(tag >> 3) || bytes.first() != Some(&tag) {
            return None;
        }
        let (k, v) = small_entry(next.payload?, true)?;
        Some((k as u32, v as u32, next.rest))
    }

    fn varint(mut v: u32, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn reads_every_small_entry_as_the_general_framing() {
        for tag in [0x0a, 0x12] {
            for key in [0, 1, 63, 64, 127, 128, 443, 16_383] {
                for value in [0, 5, 127, 128, 300, 16_383] {
                    let mut entry = vec![0x08];
                    varint(key, &mut entry);
                    entry.push(0x10);
                    varint(value, &mut entry);
                    let mut field = vec![tag, entry.len() as u8];
                    field.extend_from_slice(&entry);
                    field.extend_from_slice(&[0x12, 0x04, 0x08, 0x01, 0x10, 0x02]);
                    let read = packed_entry(&field, tag);
                    assert_eq!(read, framed(&field, tag), "{field:02x?}");
                    assert_eq!(read, Some((key, value, &field[2 + entry.len()..])));
                    // the field alone: read at once only when it is 8 bytes long
                    let alone = &field[..2 + entry.len()];
                    let expected = (alone.len() == 8).then_some((key, value, &[][..]));
                    assert_eq!(packed_entry(alone, tag), expected);
                }
            }
        }
    }

    #[test]
    fn accepts_only_what_the_general_framing_reads_the_same() {
        // xorshift over 8-byte windows drawn from the bytes that matter to the framing
        let alphabet = [
            0x00, 0x01, 0x04, 0x05, 0x06, 0x08, 0x0a, 0x10, 0x12, 0x7f, 0x80, 0xff,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut bytes = [0u8; 10];
            for b in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = alphabet[(state % alphabet.len() as u64) as usize];
            }
            bytes[0] = if state & 1 == 0 { 0x12 } else { bytes[0] };
            bytes[2] = if state & 2 == 0 { 0x08 } else { bytes[2] };
            for tag in [0x0a, 0x12] {
                if let Some(read) = packed_entry(&bytes, tag) {
                    assert_eq!(Some(read), framed(&bytes, tag), "{bytes:02x?}");
                    accepted += 1;
                }
            }
        }
        assert!(
            accepted > 100,
            "the windows exercise the fast path ({accepted})"
        );
    }
}
