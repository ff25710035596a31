//! The NDJSON splitter and Ollama's decoder on arbitrary bytes at an arbitrary split.
#![no_main]

use chinwag::config::ProviderKind;
use chinwag::provider::family;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(input.len());
    let mut decoder = family(ProviderKind::Ollama).decoder("fuzz");
    let mut out = Vec::new();
    if decoder.feed(&input[..cut], &mut out).is_ok()
        && decoder.feed(&input[cut..], &mut out).is_ok()
    {
        let _ = decoder.finish(&mut out);
    }
});
