//! Word expansion (`$VAR`, `${VAR:-word}`, quotes, escapes) over a small environment, with
//! each option and escape character: never a panic, and bounded output.
#![no_main]

use std::collections::HashMap;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let Ok(word) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lex = bld_dockerfile::ShellLex::new(if options & 1 == 0 { '\\' } else { '`' });
    lex.raw_quotes = options & 2 != 0;
    lex.raw_escapes = options & 4 != 0;
    lex.skip_process_quotes = options & 8 != 0;
    lex.skip_unset_env = options & 16 != 0;
    let env: HashMap<String, String> = [
        ("A", "a b"),
        ("EMPTY", ""),
        ("NESTED", "${A}$A"),
        ("LONG", "0123456789abcdef"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let _ = lex.process_word(word, &env);
    let _ = lex.process_words(word, &env);
});
