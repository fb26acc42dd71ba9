//! Image references: whatever parses prints, in both its full and its familiar form, as text
//! that parses back to the same reference.
#![no_main]

use bld_core::ImageReference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reference) = ImageReference::parse(text) else {
        return;
    };
    let full = reference.to_string();
    assert_eq!(ImageReference::parse(&full).ok(), Some(reference.clone()), "{full}");
    let familiar = reference.familiar();
    assert_eq!(
        ImageReference::parse(&familiar).ok(),
        Some(reference),
        "{text} → {familiar}"
    );
});
