//! The zero-allocation baseline: walks every field of a `ReportRequest` — its attribute sets,
//! their map entries and the Timestamp / Duration / StringMap values inside — without
//! building anything. Benchmarks and the no-op load-test server compare real decoding with it.

use crate::wire::{FieldValue, Reader, WireError};

/// What a scan saw: the attribute sets, and a checksum over every field so the walk cannot be
/// optimised away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub sets: u64,
    pub checksum: u64,
}

/// Walks `bytes` as a `ReportRequest`.
pub fn scan_report(bytes: &[u8]) -> Result<Scanned, WireError> {
    let mut out = Scanned {
        sets: 0,
        checksum: 0,
    };
    walk(bytes, 0, 0, &mut out)?;
    Ok(out)
}

fn walk(bytes: &[u8], depth: u32, parent: u32, out: &mut Scanned) -> Result<(), WireError> {
    for field in Reader::new(bytes) {
        let field = field?;
        out.checksum = out.checksum.wrapping_add(u64::from(field.number));
        match field.value {
            FieldValue::Varint(v) | FieldValue::Fixed64(v) => {
                out.checksum = out.checksum.wrapping_add(v)
            }
            FieldValue::Fixed32(v) => out.checksum = out.checksum.wrapping_add(u64::from(v)),
            FieldValue::Len(b) => {
                out.checksum = out.checksum.wrapping_add(b.len() as u64);
                // ReportRequest.attributes → map entries → (Timestamp | Duration | StringMap
                // → its entries); strings, bytes and words are leaves
                let message = match depth {
                    0 => field.number == 1,
                    1 => (2..=9).contains(&field.number),
                    2 => field.number == 2 && matches!(parent, 6 | 7 | 9),
                    3 => field.number == 1,
                    _ => false,
                };
                if message {
                    walk(b, depth + 1, field.number, out)?;
                }
                if depth == 0 && field.number == 1 {
                    out.sets += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::ReportBatch;
    use crate::{OwnedBag, OwnedValue};

    #[test]
    fn counts_sets_and_rejects_truncation() {
        let bag: OwnedBag = [("request.size", OwnedValue::Int64(3))]
            .into_iter()
            .collect();
        let mut b = ReportBatch::new();
        b.push(bag.iter());
        b.push(bag.iter());
        let bytes = b.finish();
        assert_eq!(scan_report(&bytes).map(|s| s.sets), Ok(2));
        // the request ends with the semantics varint: cut its value off
        assert!(scan_report(&bytes[..bytes.len() - 1]).is_err());
    }
}
