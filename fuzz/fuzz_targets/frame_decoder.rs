//! The framing decoder on arbitrary input, split at an arbitrary point: it must never panic,
//! never loop, and never hand out a message larger than its limit.
#![no_main]

use bytes::BytesMut;
use chinwag::transport::{FrameCodec, Inbound, SharedFraming};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(input.len());
    let mut codec = FrameCodec::with_limit(SharedFraming::default(), 256);
    let mut buf = BytesMut::new();
    for piece in [&input[..cut], &input[cut..]] {
        buf.extend_from_slice(piece);
        while let Ok(Some(item)) = codec.decode(&mut buf) {
            if let Inbound::Message(body) = item {
                assert!(body.len() <= 256);
            }
        }
    }
    while let Ok(Some(_)) = codec.decode_eof(&mut buf) {}
});
