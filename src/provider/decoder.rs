//! What every family's stream decoding shares: split the body into units (SSE events or NDJSON
//! lines) whatever the chunking, hand each to the family's handler, and insist on the stream's
//! terminator at the end.

use super::{ProviderError, StreamDecoder, StreamItem};

/// A line longer than a splitter accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stream line exceeds {0} bytes")]
pub struct LineTooLong(pub usize);

/// Splits a byte stream into units.
pub trait Splitter: Send {
    type Unit: Send;
    /// Feed one chunk; complete units are pushed to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Self::Unit>) -> Result<(), LineTooLong>;
    /// The body ended; push what is left.
    fn finish(&mut self, out: &mut Vec<Self::Unit>);
}

/// Why a unit could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitError {
    /// The provider reported an error in the stream.
    Stream(String),
    /// The unit is not what the wire format promises.
    Protocol(String),
}

/// A family's reading of its units.
pub trait UnitHandler<U>: Send {
    fn handle(&mut self, unit: U, out: &mut Vec<StreamItem>) -> Result<(), UnitError>;
    /// Whether the stream's terminator has been seen.
    fn complete(&self) -> bool;
}

/// A [`StreamDecoder`] made of a splitter and a family's handler.
pub struct FramedDecoder<S: Splitter, H> {
    provider: String,
    splitter: S,
    handler: H,
    units: Vec<S::Unit>,
}

impl<S: Splitter, H: UnitHandler<S::Unit>> FramedDecoder<S, H> {
    pub fn boxed(provider: &str, splitter: S, handler: H) -> Box<dyn StreamDecoder>
    where
        S: 'static,
        H: 'static,
    {
        Box::new(FramedDecoder {
            provider: provider.to_string(),
            splitter,
            handler,
            units: Vec::new(),
        })
    }

    fn drain(&mut self, out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        for unit in self.units.drain(..) {
            self.handler
                .handle(unit, out)
                .map_err(|error| match error {
                    UnitError::Stream(message) => ProviderError::Stream {
                        provider: self.provider.clone(),
                        message,
                    },
                    UnitError::Protocol(detail) => ProviderError::Protocol {
                        provider: self.provider.clone(),
                        detail,
                    },
                })?;
        }
        Ok(())
    }
}

impl<S: Splitter, H: UnitHandler<S::Unit>> StreamDecoder for FramedDecoder<S, H> {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        let split = self.splitter.feed(chunk, &mut self.units);
        // The units completed before an overlong line came first: they are decoded (and
        // kept) before the fault is reported.
        self.drain(out)?;
        split.map_err(|error| ProviderError::Protocol {
            provider: self.provider.clone(),
            detail: error.to_string(),
        })
    }

    fn finish(&mut self, out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        self.splitter.finish(&mut self.units);
        self.drain(out)?;
        if !self.handler.complete() {
            return Err(ProviderError::Truncated {
                provider: self.provider.clone(),
            });
        }
        Ok(())
    }
}

/// Parse a unit's JSON, or say which unit was not JSON.
pub fn json(text: &str) -> Result<serde_json::Value, UnitError> {
    serde_json::from_str(text)
        .map_err(|error| UnitError::Protocol(format!("a stream event is not JSON: {error}")))
}

/// Decode `stream` fed in pieces of `chunk` bytes (for the families' tests).
#[cfg(test)]
pub fn decode_in_chunks(
    mut decoder: Box<dyn StreamDecoder>,
    stream: &str,
    chunk: usize,
) -> Result<Vec<StreamItem>, ProviderError> {
    let mut out = Vec::new();
    for piece in stream.as_bytes().chunks(chunk) {
        decoder.feed(piece, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}
