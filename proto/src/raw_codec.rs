//! tonic codecs for messages kept in wire form. Servers: [`RawRequestCodec`] hands requests
//! over as raw bytes — services decode the wire format themselves, without prost structs —
//! and encodes responses with prost (or, for a [`CheckAnswer`], from its bytes). Clients:
//! [`PreEncodedCodec`] sends bytes encoded beforehand and decodes responses with prost.

use crate::check_answer::CheckAnswer;
use crate::mixer::{CheckResponse, ReportResponse};
use prost::Message;
use std::marker::PhantomData;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Bytes;
use tonic::Status;

/// Requests as [`Bytes`] (zero-copy from the receive buffer), responses of type `R` via prost.
#[derive(Debug)]
pub struct RawRequestCodec<R> {
    buffers: BufferSettings,
    response: PhantomData<fn(R)>,
}

/// tonic's default: how much a streaming encoder buffers before it yields (BufferSettings
/// only sets both at once).
const YIELD_THRESHOLD: usize = 32 * 1024;

impl<R> Default for RawRequestCodec<R> {
    /// tonic's own buffers: an 8 KiB receive buffer, grown as a message needs.
    fn default() -> Self {
        RawRequestCodec {
            buffers: BufferSettings::default(),
            response: PhantomData,
        }
    }
}

impl<R> RawRequestCodec<R> {
    /// A codec whose receive buffer starts at `bytes`: a request that fits is read without
    /// growing (and copying) the buffer on the way.
    pub fn with_buffer_size(bytes: usize) -> Self {
        RawRequestCodec {
            buffers: BufferSettings::new(bytes, YIELD_THRESHOLD),
            response: PhantomData,
        }
    }
}

impl<R: EncodeResponse> Codec for RawRequestCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProstResponseEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder {
            buffers: self.buffers,
        }
    }
}

/// A response a server sends: a prost message, or a [`CheckAnswer`].
pub trait EncodeResponse: Send + 'static {
    fn encode_response(&self, dst: &mut EncodeBuf<'_>) -> Result<(), Status>;
}

fn encode_message(m: &impl Message, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
    m.encode(dst)
        .map_err(|e| Status::internal(format!("encoding the response: {e}")))
}

impl EncodeResponse for CheckResponse {
    fn encode_response(&self, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        encode_message(self, dst)
    }
}

impl EncodeResponse for ReportResponse {
    fn encode_response(&self, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        encode_message(self, dst)
    }
}

impl EncodeResponse for CheckAnswer {
    fn encode_response(&self, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // the buffer grows as needed
        dst.reserve(self.encoded_len());
        self.encode_raw(dst);
        Ok(())
    }
}

/// Encodes a response (see [`EncodeResponse`]).
#[derive(Debug)]
pub struct ProstResponseEncoder<R>(PhantomData<fn(R)>);

impl<R: EncodeResponse> Encoder for ProstResponseEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode_response(dst)
    }
}

/// Takes the whole message as bytes.
#[derive(Debug, Clone, Copy)]
pub struct RawDecoder {
    buffers: BufferSettings,
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        use bytes::Buf;
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.buffers
    }
}

/// The client side: sends requests that are already encoded (a load generator replaying a
/// pool, a sidecar's batcher), decodes responses of type `R` with prost.
#[derive(Debug)]
pub struct PreEncodedCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for PreEncodedCodec<R> {
    fn default() -> Self {
        PreEncodedCodec(PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for PreEncodedCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = RawEncoder;
    type Decoder = ProstResponseDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstResponseDecoder(PhantomData)
    }
}

/// Writes the bytes as they are.
#[derive(Debug, Clone, Copy)]
pub struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

/// Decodes a response message with prost.
#[derive(Debug)]
pub struct ProstResponseDecoder<R>(PhantomData<fn() -> R>);

impl<R: Message + Default> Decoder for ProstResponseDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        use bytes::Buf;
        let len = src.remaining();
        R::decode(src.copy_to_bytes(len))
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding the response: {e}")))
    }
}
