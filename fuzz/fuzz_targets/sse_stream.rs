//! The SSE parser and both SSE families' decoders (OpenAI-compatible, Anthropic) on arbitrary
//! bytes at an arbitrary split: errors are fine, panics are not.
#![no_main]

use chinwag::config::ProviderKind;
use chinwag::provider::family;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(input.len());
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        let mut decoder = family(kind).decoder("fuzz");
        let mut out = Vec::new();
        if decoder.feed(&input[..cut], &mut out).is_ok()
            && decoder.feed(&input[cut..], &mut out).is_ok()
        {
            let _ = decoder.finish(&mut out);
        }
    }
});
