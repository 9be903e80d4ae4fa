//! A mutational fuzzing engine that runs on the stable toolchain.
//!
//! Coverage-guided engines (libFuzzer, AFL) need nightly sanitizer flags or
//! an instrumenting compiler; this one needs neither. Its feedback is the
//! *outcome* of each run instead of the edges it took: every target maps a
//! result to a signature (which error, which shape of success), and an input
//! that produces a signature not seen before joins the corpus. Parsers report
//! most of their branches through distinct errors, so this steers mutation
//! towards new behaviour well enough to be worth having over blind random
//! input. Everything is driven by one seed, so a run replays exactly.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

/// One fuzz target: a parser (or a process) and the properties it must keep.
pub trait Target {
    /// The target's name, as given to `--target`.
    fn name(&self) -> &'static str;
    /// Valid inputs to start from.
    fn seeds(&self) -> Vec<Vec<u8>>;
    /// Tokens worth inserting (keywords, separators, field names).
    fn dictionary(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// The longest input tried.
    fn max_len(&self) -> usize {
        4096
    }
    /// Extra figures for the run's summary line (` name=value`...).
    fn report(&self) -> String {
        String::new()
    }
    /// Run one input. Panics when a property is violated; returns a
    /// signature of the outcome (see [`outcome`]).
    fn run(&mut self, input: &[u8]) -> u64;
}

/// How long a run may go on.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Wall-clock limit.
    pub time: Duration,
    /// Execution limit, if any.
    pub max_execs: Option<u64>,
}

/// A panic the target raised, with the input that raised it.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The input.
    pub input: Vec<u8>,
    /// The panic message and location.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs executed.
    pub execs: u64,
    /// Inputs kept because they produced a new outcome.
    pub corpus: usize,
    /// Distinct outcome signatures seen.
    pub outcomes: usize,
    /// Distinct panics (by message), each with its first input.
    pub crashes: Vec<Crash>,
    /// Wall-clock time spent.
    pub elapsed: Duration,
}

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes that break parsers: quotes, brackets, separators, UTF-8 lead bytes.
const INTERESTING_BYTES: &[u8] = b"\0\x7f\x80\xff\xc3\xe3\"'\\/{}[]:,\n\r\t -.#&*!|>%@`=+";
/// Numbers at the edges of what parsers handle.
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "-0",
    "9223372036854775808",
    "99999999999999999999999",
    "NaN",
    "0x10",
    "1.5",
    "4294967296",
];

/// The mutations, each a small edit.
fn mutate(input: &mut Vec<u8>, rng: &mut Rng, dict: &[Vec<u8>], corpus: &[Vec<u8>], max: usize) {
    let len = input.len();
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        2 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(4);
            for _ in 0..n {
                input.insert(i, rng.next_u64() as u8);
            }
        }
        3 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16)).min(len);
            input.drain(start..end);
        }
        4 if len > 0 => {
            // Duplicate a chunk: grows nesting and repeated fields.
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let chunk = input[start..end].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, chunk);
        }
        5 | 6 if !dict.is_empty() => {
            let token = &dict[rng.below(dict.len())];
            let at = rng.below(len + 1);
            if rng.below(2) == 0 || len == 0 {
                input.splice(at..at, token.iter().copied());
            } else {
                let end = (at + token.len()).min(len);
                input.splice(at..end, token.iter().copied());
            }
        }
        7 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        8 => {
            // Replace a run of digits (or insert) with an edge number.
            let number = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())].as_bytes();
            let digits: Vec<usize> = (0..len).filter(|&i| input[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                let at = rng.below(len + 1);
                input.splice(at..at, number.iter().copied());
            } else {
                let start = digits[rng.below(digits.len())];
                let mut end = start;
                while end < len && input[end].is_ascii_digit() {
                    end += 1;
                }
                input.splice(start..end, number.iter().copied());
            }
        }
        9 if len > 0 => input.truncate(rng.below(len)),
        _ => {
            let i = rng.below(len + 1);
            input.insert(i, INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]);
        }
    }
    input.truncate(max);
}

/// Most corpus entries kept; past it, a new entry replaces a random one.
const MAX_CORPUS: usize = 4096;
/// Distinct panics kept per run.
const MAX_CRASHES: usize = 16;

thread_local! {
    /// Set while a target runs on this thread: its panics are recorded, not printed.
    static IN_FUZZ: Cell<bool> = const { Cell::new(false) };
    /// The last panic message raised under [`IN_FUZZ`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Install, once per process, a panic hook that records panics raised by
/// a target and hands every other panic to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_FUZZ.with(Cell::get) {
                previous(info);
                return;
            }
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            LAST_PANIC.with(|m| *m.borrow_mut() = Some(format!("{payload} at {location}")));
        }));
    });
}

/// Sees each input before it runs.
pub type InputHook<'a> = dyn FnMut(&[u8]) + 'a;

/// Run `target` from `seed` until the budget is spent. `before_exec` sees
/// every input before it runs (the careful replay writes it to a file, so
/// an abort that unwinding cannot catch still leaves the input behind).
pub fn fuzz(
    target: &mut dyn Target,
    seed: u64,
    budget: Budget,
    mut before_exec: Option<&mut InputHook<'_>>,
) -> Stats {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let dict = target.dictionary();
    let max = target.max_len();
    let mut corpus: Vec<Vec<u8>> = target.seeds();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut seen: HashSet<u64> = HashSet::new();
    let mut crash_messages: HashSet<String> = HashSet::new();
    let mut stats = Stats::default();

    install_panic_hook();

    // Seeds run first and unchanged, then mutants of corpus entries.
    let mut pending_seeds: Vec<Vec<u8>> = corpus.clone();
    pending_seeds.reverse();
    loop {
        if stats.execs % 64 == 0 && started.elapsed() >= budget.time {
            break;
        }
        if budget.max_execs.is_some_and(|m| stats.execs >= m) {
            break;
        }
        let input = match pending_seeds.pop() {
            Some(seed_input) => seed_input,
            None => {
                let mut input = corpus[rng.below(corpus.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    mutate(&mut input, &mut rng, &dict, &corpus, max);
                }
                input
            }
        };
        if let Some(hook) = before_exec.as_mut() {
            hook(&input);
        }
        stats.execs += 1;
        IN_FUZZ.with(|f| f.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        IN_FUZZ.with(|f| f.set(false));
        match result {
            Ok(signature) => {
                if seen.insert(signature) {
                    if corpus.len() < MAX_CORPUS {
                        corpus.push(input);
                    } else {
                        let i = rng.below(corpus.len());
                        corpus[i] = input;
                    }
                }
            }
            Err(_) => {
                let message = LAST_PANIC
                    .with(|m| m.borrow_mut().take())
                    .unwrap_or_else(|| "panic".to_owned());
                if crash_messages.len() < MAX_CRASHES && crash_messages.insert(message.clone()) {
                    stats.crashes.push(Crash { input, message });
                }
            }
        }
    }
    stats.corpus = corpus.len();
    stats.outcomes = seen.len();
    stats.elapsed = started.elapsed();
    stats
}

/// A stable 64-bit hash (FNV-1a) of `parts`, for outcome signatures.
pub fn signature(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The signature of an error message: its wording up to the first quoted
/// value or detail, so errors that differ only in the value echoed back
/// count as one outcome.
pub fn error_signature(tag: &str, message: &str) -> u64 {
    let cut = message
        .find(['\'', '"', '`', ':', '('])
        .unwrap_or(message.len());
    let stem: String = message[..cut]
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(80)
        .collect();
    signature(&[tag.as_bytes(), stem.as_bytes()])
}

/// The signature of a `Result`: the error's wording, or `ok` with a shape.
pub fn outcome<T, E: std::fmt::Display>(
    tag: &str,
    result: &Result<T, E>,
    shape: impl Fn(&T) -> u64,
) -> u64 {
    match result {
        Ok(value) => signature(&[tag.as_bytes(), b"ok", &shape(value).to_le_bytes()]),
        Err(e) => error_signature(tag, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FindsMagic;

    impl Target for FindsMagic {
        fn name(&self) -> &'static str {
            "magic"
        }
        fn seeds(&self) -> Vec<Vec<u8>> {
            vec![b"ab".to_vec()]
        }
        fn dictionary(&self) -> Vec<Vec<u8>> {
            vec![b"KM".to_vec()]
        }
        fn run(&mut self, input: &[u8]) -> u64 {
            // Each step towards the magic word is a new outcome.
            let depth = input
                .iter()
                .zip(b"KM{}")
                .take_while(|(a, b)| a == b)
                .count();
            assert!(depth < 4, "found the magic word");
            depth as u64
        }
    }

    #[test]
    fn outcome_feedback_reaches_a_nested_condition_and_reports_the_panic() {
        let stats = fuzz(
            &mut FindsMagic,
            1,
            Budget {
                time: Duration::from_secs(20),
                max_execs: Some(2_000_000),
            },
            None,
        );
        assert_eq!(stats.crashes.len(), 1, "{stats:?}");
        assert!(stats.crashes[0].message.contains("found the magic word"));
        assert!(stats.crashes[0].input.starts_with(b"KM{}"));
    }

    #[test]
    fn a_seed_replays_exactly() {
        let run = |seed| {
            let mut seen = Vec::new();
            let mut record = |input: &[u8]| seen.push(input.to_vec());
            fuzz(
                &mut FindsMagic,
                seed,
                Budget {
                    time: Duration::from_secs(20),
                    max_execs: Some(500),
                },
                Some(&mut record),
            );
            seen
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn error_signatures_ignore_echoed_values() {
        assert_eq!(
            error_signature("t", "invalid id 'abc'"),
            error_signature("t", "invalid id 'xyz123'")
        );
        assert_ne!(
            error_signature("t", "invalid id 'abc'"),
            error_signature("t", "missing field 'abc'")
        );
    }
}
