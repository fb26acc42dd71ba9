//! The Dockerfile parser, the typed instructions and stage splitting: any text gives a
//! Dockerfile or an error, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dockerfile) = bld_dockerfile::parse(text) {
        for node in &dockerfile.nodes {
            let _ = bld_dockerfile::LocatedInstruction::from_node(node);
        }
        let _ = bld_dockerfile::stages(&dockerfile);
    }
});
