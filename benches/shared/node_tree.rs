//! A generated tree shaped like an npm `node_modules`: about 1,150 packages, 5,000
//! directories, 41,000 files (mostly 0.2–25 KB of JavaScript-like text, 1% of them 100–500 KB)
//! and a `.bin/` of symlinks; about 340 MB that gzip -6 shrinks about 4.5×, as issue 11's
//! `node_modules` (46,294 entries, 340 MB, 73 MB gzipped). The same `seed` always gives the
//! same tree.

use std::io::Write;
use std::path::Path;

const PACKAGES: u32 = 1_150;
/// Distinct lines the files are made of.
const POOL_LINES: usize = 20_000;
/// How many lines of the pool one file draws from.
const STRETCH: usize = 300;

const WORDS: &[&str] = &[
    "function",
    "return",
    "const",
    "let",
    "var",
    "if",
    "else",
    "for",
    "while",
    "this",
    "module",
    "exports",
    "require",
    "undefined",
    "null",
    "true",
    "false",
    "typeof",
    "new",
    "prototype",
    "Object",
    "Array",
    "String",
    "length",
    "value",
    "options",
    "callback",
    "err",
    "=",
    "===",
    "!==",
    "=>",
    "(",
    ")",
    "{",
    "}",
    ";",
    ",",
    ".",
    "+",
    "&&",
    "||",
    "//",
    "async",
    "await",
    "Promise",
    "resolve",
    "reject",
    "throw",
    "Error",
    "key",
];

/// A small deterministic generator (xorshift64*), so the tree is the same on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Lines of JavaScript-like text: keywords and punctuation with random identifiers.
fn line_pool(random: &mut Random) -> Vec<Vec<u8>> {
    (0..POOL_LINES)
        .map(|_| {
            let mut line = Vec::new();
            let words = 4 + random.below(14);
            for _ in 0..words {
                if random.below(4) == 0 {
                    let _ = write!(line, "_{:x} ", random.next() & 0xf_ffff);
                } else {
                    line.extend_from_slice(
                        WORDS[random.below(WORDS.len() as u64) as usize].as_bytes(),
                    );
                    line.push(b' ');
                }
            }
            line.push(b'\n');
            line
        })
        .collect()
}

/// `size` bytes of lines from a stretch of `pool` (code repeats itself, as real code does), one
/// in eight with a random number.
fn text(random: &mut Random, pool: &[Vec<u8>], size: usize) -> Vec<u8> {
    let stretch = random.below((pool.len() - STRETCH) as u64) as usize;
    let mut out = Vec::with_capacity(size + 128);
    while out.len() < size {
        out.extend_from_slice(&pool[stretch + random.below(STRETCH as u64) as usize]);
        if random.below(8) == 0 {
            let _ = writeln!(out, "  {};", random.below(1_000_000));
        }
    }
    out.truncate(size);
    out
}

fn file_size(random: &mut Random) -> usize {
    if random.below(100) == 0 {
        100_000 + random.below(400_000) as usize
    } else {
        // Log-uniform between 200 B and 25 KB.
        let exponent = random.below(1_000) as f64 / 1_000.0;
        (200.0 * 125f64.powf(exponent)) as usize
    }
}

/// Writes the tree under `root` (which must not exist yet); returns how many entries it made.
pub fn write_node_modules(root: &Path, seed: u64) -> usize {
    let mut random = Random(seed | 1);
    let pool = line_pool(&mut random);
    let mut entries = 0;
    let bin = root.join(".bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for package in 0..PACKAGES {
        let name = format!("pkg-{package:04}");
        let dir = root.join(&name);
        let mut dirs = vec![dir.clone()];
        for sub in ["lib", "dist", "lib/internal", "types", "esm"] {
            if random.below(4) != 0 {
                dirs.push(dir.join(sub));
            }
        }
        for d in &dirs {
            std::fs::create_dir_all(d).expect("mkdir");
            entries += 1;
        }
        let files = 20 + random.below(32);
        for i in 0..files {
            let d = &dirs[random.below(dirs.len() as u64) as usize];
            let ext = ["js", "js", "js", "d.ts", "js.map", "json", "md"][random.below(7) as usize];
            let size = file_size(&mut random);
            std::fs::write(
                d.join(format!("f{i}.{ext}")),
                text(&mut random, &pool, size),
            )
            .expect("write");
            entries += 1;
        }
        if package % 6 == 0 {
            std::os::unix::fs::symlink(format!("../{name}/lib/f0.js"), bin.join(&name))
                .expect("symlink");
            entries += 1;
        }
    }
    entries
}
