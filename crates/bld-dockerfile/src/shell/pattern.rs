//! The wildcard patterns of `${name#pattern}`, `${name%pattern}` and `${name/pattern/...}`:
//! `*` matches any run of characters, `?` one character, `\` escapes `*`, `?` and `\`
//! (and is dropped before `}` and `/`). Bracket expressions are not supported, as in BuildKit.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    AnyRun,
    AnyOne,
    Literal(char),
}

/// A parsed wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Parses `pattern`; the error says what was wrong.
    pub(crate) fn parse(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(ch) = chars.next() {
            let token = match ch {
                '*' => Token::AnyRun,
                '?' => Token::AnyOne,
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\' | '}' | '/')) => Token::Literal(escaped),
                    Some(other) => {
                        return Err(format!(
                            "invalid escape `\\{other}`: expected `\\*`, `\\?` or `\\\\`"
                        ));
                    }
                    None => {
                        return Err("escape at the end: expected a character after `\\`".to_owned());
                    }
                },
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// The pattern reversed, which matches the reversed text of whatever `self` matches (every
    /// token is one character or a run of them).
    fn reversed(&self) -> Glob {
        Glob {
            tokens: self.tokens.iter().rev().copied().collect(),
        }
    }

    /// Adds to `states` what they reach without reading a character: past each `*`. A state
    /// `j` means "the first `j` tokens matched"; each holds the earliest start of a match in
    /// that state.
    fn close(&self, states: &mut [Option<usize>]) {
        for (j, token) in self.tokens.iter().enumerate() {
            if let (Token::AnyRun, Some(start)) = (token, states[j]) {
                states[j + 1] = Some(states[j + 1].map_or(start, |s| s.min(start)));
            }
        }
    }

    /// The states `states` reach by reading `ch`, into `next`.
    fn step(&self, states: &[Option<usize>], ch: char, next: &mut [Option<usize>]) {
        next.fill(None);
        for (j, token) in self.tokens.iter().enumerate() {
            let Some(start) = states[j] else { continue };
            let to = match token {
                Token::AnyRun => j,
                Token::AnyOne => j + 1,
                Token::Literal(literal) if *literal == ch => j + 1,
                Token::Literal(_) => continue,
            };
            next[to] = Some(next[to].map_or(start, |s| s.min(start)));
        }
        self.close(next);
    }

    /// Charges one step over the pattern (one character read) to `budget`.
    fn charge(&self, budget: &mut Budget) -> Result<(), Exceeded> {
        let cost = self.tokens.len() as u64 + 1;
        budget.steps = budget.steps.checked_sub(cost).ok_or(Exceeded::Work)?;
        Ok(())
    }

    /// The lengths of the prefixes of `text` that match the whole pattern, ascending. Runs
    /// the pattern as an automaton over `text` once: O(text × pattern).
    fn matching_prefixes(
        &self,
        text: &[char],
        budget: &mut Budget,
    ) -> Result<Vec<usize>, Exceeded> {
        let width = self.tokens.len() + 1;
        let accept = self.tokens.len();
        let mut states = vec![None; width];
        let mut next = vec![None; width];
        states[0] = Some(0);
        self.close(&mut states);
        let mut lengths = Vec::new();
        for length in 0..=text.len() {
            if states[accept].is_some() {
                lengths.push(length);
            }
            let Some(&ch) = text.get(length) else { break };
            if states.iter().all(Option::is_none) {
                break;
            }
            self.charge(budget)?;
            self.step(&states, ch, &mut next);
            std::mem::swap(&mut states, &mut next);
        }
        Ok(lengths)
    }

    /// `value` without its shortest (or longest) prefix that matches.
    pub(crate) fn remove_prefix(
        &self,
        value: &str,
        longest: bool,
        budget: &mut Budget,
    ) -> Result<String, Exceeded> {
        let chars: Vec<char> = value.chars().collect();
        let lengths = self.matching_prefixes(&chars, budget)?;
        let chosen = if longest {
            lengths.last()
        } else {
            lengths.first()
        };
        Ok(match chosen {
            Some(&length) => chars[length..].iter().collect(),
            None => value.to_owned(),
        })
    }

    /// `value` without its shortest (or longest) suffix that matches.
    pub(crate) fn remove_suffix(
        &self,
        value: &str,
        longest: bool,
        budget: &mut Budget,
    ) -> Result<String, Exceeded> {
        let reversed: Vec<char> = value.chars().rev().collect();
        let lengths = self.reversed().matching_prefixes(&reversed, budget)?;
        let chosen = if longest {
            lengths.last()
        } else {
            lengths.first()
        };
        Ok(match chosen {
            Some(&length) => reversed[length..].iter().rev().collect(),
            None => value.to_owned(),
        })
    }

    /// The leftmost match at or after `from`, longest at that start: `(start, end)`. One pass
    /// of the automaton, each state remembering the earliest start that reaches it (later
    /// starts in the same state can only lose): O(scanned text × pattern).
    fn find(
        &self,
        chars: &[char],
        from: usize,
        budget: &mut Budget,
    ) -> Result<Option<(usize, usize)>, Exceeded> {
        let width = self.tokens.len() + 1;
        let accept = self.tokens.len();
        let mut states: Vec<Option<usize>> = vec![None; width];
        let mut next = vec![None; width];
        let mut best: Option<(usize, usize)> = None;
        for position in from..=chars.len() {
            if best.is_none() && states[0].is_none() {
                // A match may also start here.
                states[0] = Some(position);
                self.close(&mut states);
            }
            if let Some(start) = states[accept] {
                best = match best {
                    Some((best_start, _)) if best_start < start => best,
                    _ => Some((start, position)),
                };
            }
            if let Some((best_start, _)) = best {
                // Only an earlier or equal start can still change the answer.
                for state in states.iter_mut() {
                    if state.is_some_and(|start| start > best_start) {
                        *state = None;
                    }
                }
                if states.iter().all(Option::is_none) {
                    break;
                }
            }
            let Some(&ch) = chars.get(position) else {
                break;
            };
            self.charge(budget)?;
            self.step(&states, ch, &mut next);
            std::mem::swap(&mut states, &mut next);
        }
        Ok(best)
    }

    /// `value` with the first (or every) match replaced by `replacement`.
    pub(crate) fn replace(
        &self,
        value: &str,
        replacement: &str,
        all: bool,
        budget: &mut Budget,
    ) -> Result<String, Exceeded> {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut previous_end: Option<usize> = None;
        let max_output = budget.max_output;
        let push = |out: &mut String, text: &str| {
            if out.len() + text.len() > max_output {
                return Err(Exceeded::Output);
            }
            out.push_str(text);
            Ok(())
        };
        while pos <= chars.len() {
            let Some((start, end)) = self.find(&chars, pos, budget)? else {
                break;
            };
            out.extend(&chars[pos..start]);
            if start == end {
                // An empty match right after a match is skipped, as Go's regexp does.
                if previous_end != Some(start) {
                    push(&mut out, replacement)?;
                }
                if let Some(ch) = chars.get(start) {
                    out.push(*ch);
                }
                pos = start + 1;
                previous_end = None;
            } else {
                push(&mut out, replacement)?;
                pos = end;
                previous_end = Some(end);
            }
            if !all {
                break;
            }
        }
        if pos < chars.len() {
            out.extend(&chars[pos..]);
        }
        Ok(out)
    }
}

/// What a pattern operation may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Steps left: reading one character costs the pattern's length plus one.
    pub(crate) steps: u64,
    /// The most bytes a replacement may produce.
    pub(crate) max_output: usize,
}

/// Which part of the [`Budget`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The steps.
    Work,
    /// The output size.
    Output,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::parse(pattern).expect("pattern parses")
    }

    fn budget() -> Budget {
        Budget {
            steps: u64::MAX,
            max_output: usize::MAX,
        }
    }

    impl Glob {
        fn strip_prefix(&self, value: &str, longest: bool) -> String {
            self.remove_prefix(value, longest, &mut budget())
                .expect("unbounded")
        }

        fn strip_suffix(&self, value: &str, longest: bool) -> String {
            self.remove_suffix(value, longest, &mut budget())
                .expect("unbounded")
        }

        fn substitute(&self, value: &str, replacement: &str, all: bool) -> String {
            self.replace(value, replacement, all, &mut budget())
                .expect("unbounded")
        }

        /// The backtracking matcher bld used before, as an oracle.
        fn matches_whole(&self, text: &[char]) -> bool {
            let tokens = &self.tokens;
            let (mut t, mut s) = (0, 0);
            let mut resume: Option<(usize, usize)> = None;
            while s < text.len() {
                match tokens.get(t) {
                    Some(Token::AnyRun) => {
                        resume = Some((t, s));
                        t += 1;
                    }
                    Some(Token::AnyOne) => {
                        t += 1;
                        s += 1;
                    }
                    Some(Token::Literal(ch)) if *ch == text[s] => {
                        t += 1;
                        s += 1;
                    }
                    _ => match resume {
                        Some((star, start)) => {
                            t = star + 1;
                            s = start + 1;
                            resume = Some((star, start + 1));
                        }
                        None => return false,
                    },
                }
            }
            tokens[t..].iter().all(|token| *token == Token::AnyRun)
        }
    }

    #[test]
    fn prefixes_and_suffixes() {
        assert_eq!(glob("*x*y").strip_prefix("xxyy", false), "y");
        assert_eq!(glob("*").strip_prefix("xxyy", false), "xxyy");
        assert_eq!(glob("*x").strip_prefix("xxyy", true), "yy");
        assert_eq!(glob("?\\?").strip_prefix("???y", false), "?y");
        assert_eq!(glob("\\**").strip_suffix("xx**", true), "xx");
        assert_eq!(glob("\\**\\*").strip_suffix("a***yy*", true), "a");
        assert_eq!(glob("x").strip_suffix("xxyy", false), "xxyy");
    }

    #[test]
    fn replacements() {
        assert_eq!(
            glob("\\*/").substitute("/foo*/*/*.txt", ".", false),
            "/foo.*/*.txt"
        );
        assert_eq!(
            glob("\\*/").substitute("/foo*/*/*.txt", ".", true),
            "/foo..*.txt"
        );
        assert_eq!(
            glob("/?/").substitute("/a/foo/b/c.txt", "/", true),
            "/foo/c.txt"
        );
        assert_eq!(glob("").substitute("xxyy", "ww", false), "wwxxyy");
        assert_eq!(glob("").substitute("xxyy", "", true), "xxyy");
    }

    #[test]
    fn bad_escapes() {
        assert!(Glob::parse("\\x").is_err());
        assert!(Glob::parse("\\").is_err());
    }

    /// Every pattern and text over a small alphabet, against the old quadratic search: the
    /// automaton finds the same prefixes, suffixes and leftmost-longest matches.
    #[test]
    fn automaton_agrees_with_backtracking() {
        let alphabet = ['a', 'b', '*', '?'];
        let mut patterns = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = patterns
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        let texts = ["", "a", "b", "ab", "ba", "aab", "abab", "bbaab", "ababba"];
        for pattern in &patterns {
            let glob = glob(pattern);
            for text in texts {
                let chars: Vec<char> = text.chars().collect();
                let lengths: Vec<usize> = (0..=chars.len())
                    .filter(|&n| glob.matches_whole(&chars[..n]))
                    .collect();
                assert_eq!(
                    glob.matching_prefixes(&chars, &mut budget())
                        .expect("unbounded"),
                    lengths,
                    "prefixes of {text:?} matching {pattern:?}"
                );
                let suffixes: Vec<usize> = (0..=chars.len())
                    .filter(|&n| glob.matches_whole(&chars[chars.len() - n..]))
                    .collect();
                let reversed: Vec<char> = chars.iter().rev().copied().collect();
                assert_eq!(
                    glob.reversed()
                        .matching_prefixes(&reversed, &mut budget())
                        .expect("unbounded"),
                    suffixes,
                    "suffixes of {text:?} matching {pattern:?}"
                );
                for from in 0..=chars.len() {
                    let expected = (from..=chars.len()).find_map(|start| {
                        (start..=chars.len())
                            .rev()
                            .find(|end| glob.matches_whole(&chars[start..*end]))
                            .map(|end| (start, end))
                    });
                    assert_eq!(
                        glob.find(&chars, from, &mut budget()).expect("unbounded"),
                        expected,
                        "match of {pattern:?} in {text:?} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn budget_bounds_the_work() {
        let text = "a".repeat(10_000);
        let mut small = Budget {
            steps: 1_000,
            max_output: usize::MAX,
        };
        assert_eq!(
            glob("*b").remove_prefix(&text, true, &mut small),
            Err(Exceeded::Work)
        );
        let mut output = Budget {
            steps: u64::MAX,
            max_output: 1_000,
        };
        assert_eq!(
            glob("?").replace(&text, "xx", true, &mut output),
            Err(Exceeded::Output)
        );
    }
}
