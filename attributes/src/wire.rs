//! A tiny protobuf reader over `&[u8]`, for decoding requests without building prost structs:
//! varints, zigzag, fixed 32/64-bit values, length-delimited slices and field iteration. It
//! never allocates and never panics; every malformed input is a [`WireError`] value. Groups
//! (wire types 3 and 4, deprecated since proto2 and absent from `istio.mixer.v1`) are rejected.

/// What the bytes got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message truncated")]
    Truncated,
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    #[error("field number 0 is not allowed")]
    FieldZero,
    #[error("field number {0} out of range")]
    FieldNumberTooLarge(u64),
    #[error("group fields (wire type {0}) are not supported")]
    Group(u8),
    #[error("field {field}: expected wire type {expected:?}, found {found:?}")]
    WrongWireType {
        field: u32,
        expected: WireType,
        found: WireType,
    },
}

/// The six protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

impl WireType {
    fn from_bits(bits: u8) -> Result<WireType, WireError> {
        Ok(match bits {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            n => return Err(WireError::InvalidWireType(n)),
        })
    }
}

/// One field's payload, already read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl<'a> FieldValue<'a> {
    pub fn wire_type(&self) -> WireType {
        match self {
            FieldValue::Varint(_) => WireType::Varint,
            FieldValue::Fixed64(_) => WireType::Fixed64,
            FieldValue::Len(_) => WireType::Len,
            FieldValue::Fixed32(_) => WireType::Fixed32,
        }
    }
}

/// A field: its number and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: FieldValue<'a>,
}

impl<'a> Field<'a> {
    fn wrong(&self, expected: WireType) -> WireError {
        WireError::WrongWireType {
            field: self.number,
            expected,
            found: self.value.wire_type(),
        }
    }

    /// The payload of a varint field (`int32/64`, `uint32/64`, `sint*`, `bool`, enums).
    #[inline]
    pub fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            FieldValue::Varint(v) => Ok(v),
            _ => Err(self.wrong(WireType::Varint)),
        }
    }

    /// The payload of a length-delimited field (`string`, `bytes`, messages, map entries).
    #[inline]
    pub fn bytes(&self) -> Result<&'a [u8], WireError> {
        match self.value {
            FieldValue::Len(b) => Ok(b),
            _ => Err(self.wrong(WireType::Len)),
        }
    }

    /// The payload of a `fixed64`/`double` field.
    #[inline]
    pub fn fixed64(&self) -> Result<u64, WireError> {
        match self.value {
            FieldValue::Fixed64(v) => Ok(v),
            _ => Err(self.wrong(WireType::Fixed64)),
        }
    }

    /// A `sint32` (zigzag) field; like protobuf parsers, the varint is truncated to 32 bits.
    #[inline]
    pub fn sint32(&self) -> Result<i32, WireError> {
        self.varint().map(|v| zigzag32(v as u32))
    }

    /// An `int32` field (two's complement, truncated to 32 bits).
    #[inline]
    pub fn int32(&self) -> Result<i32, WireError> {
        self.varint().map(|v| v as i32)
    }

    /// An `int64` field.
    #[inline]
    pub fn int64(&self) -> Result<i64, WireError> {
        self.varint().map(|v| v as i64)
    }

    #[inline]
    pub fn bool(&self) -> Result<bool, WireError> {
        self.varint().map(|v| v != 0)
    }

    #[inline]
    pub fn double(&self) -> Result<f64, WireError> {
        self.fixed64().map(f64::from_bits)
    }
}

/// Decodes a zigzag-encoded `sint32`.
#[inline]
pub fn zigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Encodes a `sint32` as zigzag.
#[inline]
pub fn zigzag32_encode(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Decodes a zigzag-encoded `sint64`.
#[inline]
pub fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over protobuf bytes.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads a base-128 varint: at most 10 bytes, and the 10th may only hold the top bit.
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        // fast paths: one or two bytes (field keys, indices, lengths, small numbers)
        match *self.rest {
            [b, ref rest @ ..] if b < 0x80 => {
                self.rest = rest;
                Ok(u64::from(b))
            }
            [b0, b1, ref rest @ ..] if b1 < 0x80 => {
                self.rest = rest;
                Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7))
            }
            _ => self.varint_slow(),
        }
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for (i, &b) in self.rest.iter().enumerate() {
            if i == 9 && b > 1 {
                return Err(if b & 0x80 != 0 {
                    WireError::VarintTooLong
                } else {
                    WireError::VarintOverflow
                });
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.rest = self.rest.get(i + 1..).unwrap_or_default();
                return Ok(value);
            }
        }
        Err(WireError::Truncated)
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(WireError::Truncated),
        }
    }

    /// A length prefix, then that many bytes.
    #[inline]
    pub fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
        self.take(len)
    }

    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let arr: [u8; 8] = b.try_into().map_err(|_| WireError::Truncated)?;
        Ok(u64::from_le_bytes(arr))
    }

    #[inline]
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| WireError::Truncated)?;
        Ok(u32::from_le_bytes(arr))
    }

    /// A field key: number and wire type. Number 0 and numbers past 2^29-1 are errors.
    #[inline(always)]
    pub fn key(&mut self) -> Result<(u32, WireType), WireError> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err(WireError::FieldZero);
        }
        if number > (1 << 29) - 1 {
            return Err(WireError::FieldNumberTooLarge(number));
        }
        Ok((number as u32, WireType::from_bits((key & 7) as u8)?))
    }

    /// The next field with its payload, or `None` at the end of the bytes.
    #[inline(always)]
    pub fn field(&mut self) -> Option<Result<Field<'a>, WireError>> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.read_field())
    }

    #[inline(always)]
    fn read_field(&mut self) -> Result<Field<'a>, WireError> {
        let (number, wt) = self.key()?;
        let value = match wt {
            WireType::Varint => FieldValue::Varint(self.varint()?),
            WireType::Len => FieldValue::Len(self.len_delimited()?),
            WireType::Fixed64 => FieldValue::Fixed64(self.fixed64()?),
            WireType::Fixed32 => FieldValue::Fixed32(self.fixed32()?),
            WireType::StartGroup => return Err(WireError::Group(3)),
            WireType::EndGroup => return Err(WireError::Group(4)),
        };
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Field<'a>, WireError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.field();
        if matches!(item, Some(Err(_))) {
            // stop after the first error: the rest cannot be framed
            self.rest = &[];
        }
        item
    }
}

/// `a == b` without a call to `memcmp` for the short slices of the codec (map entries,
/// most words): two overlapping loads from each end for 4 to 16 bytes.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const W: usize>(s: &[u8], at: usize) -> [u8; W] {
        s[at..at + W].try_into().unwrap_or([0; W])
    }
    match n {
        8..=16 => {
            u64::from_ne_bytes(word(a, 0)) == u64::from_ne_bytes(word(b, 0))
                && u64::from_ne_bytes(word(a, n - 8)) == u64::from_ne_bytes(word(b, n - 8))
        }
        4..=7 => {
            u32::from_ne_bytes(word(a, 0)) == u32::from_ne_bytes(word(b, 0))
                && u32::from_ne_bytes(word(a, n - 4)) == u32::from_ne_bytes(word(b, n - 4))
        }
        _ => a == b,
    }
}

/// Appends `v` as a varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `v` takes as a varint.
#[inline]
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a field key.
#[inline]
pub fn put_key(out: &mut Vec<u8>, number: u32, wt: WireType) {
    let bits = match wt {
        WireType::Varint => 0,
        WireType::Fixed64 => 1,
        WireType::Len => 2,
        WireType::StartGroup => 3,
        WireType::EndGroup => 4,
        WireType::Fixed32 => 5,
    };
    put_varint(out, (u64::from(number) << 3) | bits);
}

/// Appends a length-delimited field.
#[inline]
pub fn put_len_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_key(out, number, WireType::Len);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_agrees_with_equality_at_every_length_and_place() {
        for n in 0..=24 {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same_bytes(&a, &a.clone()), "{n} bytes");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!same_bytes(&a, &b), "{n} bytes, byte {at} differs");
            }
            assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    fn varint_of(bytes: &[u8]) -> Result<u64, WireError> {
        Reader::new(bytes).varint()
    }

    #[test]
    fn varints() {
        assert_eq!(varint_of(&[0x00]), Ok(0));
        assert_eq!(varint_of(&[0x96, 0x01]), Ok(150));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint_of(&max), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(varint_of(&over), Err(WireError::VarintOverflow));
        let long = [0x80; 11];
        assert_eq!(varint_of(&long), Err(WireError::VarintTooLong));
        assert_eq!(varint_of(&[0x80, 0x80]), Err(WireError::Truncated));
        assert_eq!(varint_of(&[]), Err(WireError::Truncated));
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(varint_of(&out), Ok(v));
        }
    }

    #[test]
    fn zigzag() {
        for v in [0, -1, 1, -2, i32::MAX, i32::MIN] {
            assert_eq!(zigzag32(zigzag32_encode(v)), v);
        }
        assert_eq!(zigzag32(1), -1);
        assert_eq!(zigzag64(3), -2);
    }

    #[test]
    fn fields_and_errors() {
        // 1: varint 5, 2: "hi", 3: fixed64 1, 4: fixed32 2
        let bytes = [
            0x08, 5, 0x12, 2, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0,
        ];
        let fields: Vec<_> = Reader::new(&bytes)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[1].bytes(), Ok(&b"hi"[..]));
        assert_eq!(fields[2].fixed64(), Ok(1));
        assert!(matches!(
            fields[0].bytes(),
            Err(WireError::WrongWireType { field: 1, .. })
        ));
        assert_eq!(
            Reader::new(&[0x12, 5, 1]).next(),
            Some(Err(WireError::Truncated))
        );
        assert_eq!(Reader::new(&[0x0b]).next(), Some(Err(WireError::Group(3))));
        assert_eq!(
            Reader::new(&[0x0e]).next(),
            Some(Err(WireError::InvalidWireType(6)))
        );
        assert_eq!(Reader::new(&[0x00]).next(), Some(Err(WireError::FieldZero)));
    }
}
