//! A quick check that bytes hold exactly one JSON value that `serde_json` parses, without
//! building the value. It answers "certainly valid" only for text the parser is known to
//! accept (same grammar, whitespace, control characters and UTF-8 rules); anything it does
//! not decide cheaply (exponents, surrogate escapes, very deep nesting or very long numbers)
//! is left to the parser, so the two never disagree.
//!
//! It runs without recursion (one bit per open container) and finds the end of plain string
//! content eight bytes at a time: a branch per byte mispredicts at every string's end.

/// Deepest nesting the quick check follows (the parser's limit is 127).
const MAX_DEPTH: u32 = 64;
/// Longest run of digits accepted without the parser (f64 overflows past ~309 digits).
const MAX_DIGITS: usize = 300;

/// Bytes that end a run of plain string content: `"`, `\` and control characters.
static STOPS_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// True when `text` is certainly one JSON value `serde_json::from_slice::<Value>` accepts;
/// false when it is invalid or when the parser has to decide.
pub fn is_certainly_valid(text: &[u8]) -> bool {
    if !text.is_ascii() && std::str::from_utf8(text).is_err() {
        return false;
    }
    scan(text).is_some_and(|end| end == text.len())
}

#[inline(always)]
fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(at) {
        at += 1;
    }
    at
}

/// Scans one value and the whitespace after it; the index after them.
fn scan(text: &[u8]) -> Option<usize> {
    // One bit per open container, innermost lowest: 1 = object, 0 = array.
    let mut objects: u64 = 0;
    let mut depth: u32 = 0;
    let mut at = skip_whitespace(text, 0);
    loop {
        // A value starts at `at`.
        match *text.get(at)? {
            open @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                let object = open == b'{';
                at = skip_whitespace(text, at + 1);
                if text.get(at) == Some(if object { &b'}' } else { &b']' }) {
                    at += 1; // empty
                } else {
                    depth += 1;
                    objects = (objects << 1) | u64::from(object);
                    if object {
                        at = key(text, at)?;
                    }
                    continue;
                }
            }
            b'"' => at = string(text, at + 1)?,
            b't' => at = literal(text, at, b"true")?,
            b'f' => at = literal(text, at, b"false")?,
            b'n' => at = literal(text, at, b"null")?,
            b'-' | b'0'..=b'9' => at = number(text, at)?,
            _ => return None,
        }
        // After a value: close what ends here, then expect the next value.
        loop {
            at = skip_whitespace(text, at);
            if depth == 0 {
                return Some(at);
            }
            let in_object = objects & 1 == 1;
            match text.get(at) {
                Some(b',') => {
                    at = skip_whitespace(text, at + 1);
                    if in_object {
                        at = key(text, at)?;
                    }
                    break;
                }
                Some(b'}') if in_object => {}
                Some(b']') if !in_object => {}
                _ => return None,
            }
            at += 1;
            depth -= 1;
            objects >>= 1;
        }
    }
}

/// A member's key and colon at `at`; the index of its value.
#[inline(always)]
fn key(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let at = skip_whitespace(text, string(text, at + 1)?);
    if text.get(at) != Some(&b':') {
        return None;
    }
    Some(skip_whitespace(text, at + 1))
}

#[inline(always)]
fn literal(text: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    text[at..].starts_with(word).then(|| at + word.len())
}

/// String content from `at` (after the opening quote); the index after the closing quote.
#[inline(always)]
fn string(text: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at = skip_plain(text, at);
        match *text.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => match *text.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                b'u' => {
                    let hex = text.get(at + 2..at + 6)?;
                    let mut code: u32 = 0;
                    for &digit in hex {
                        code = code * 16 + char::from(digit).to_digit(16)?;
                    }
                    if (0xD800..=0xDFFF).contains(&code) {
                        return None; // surrogates: the parser decides
                    }
                    at += 6;
                }
                _ => return None,
            },
            _ => return None, // a control character
        }
    }
}

/// Skips plain string content eight bytes at a time: the lowest flagged byte of the
/// zero-byte test is exact (a borrow only flags bytes above a true match).
#[inline(always)]
pub(crate) fn skip_plain(text: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let special = has_zero_byte(word ^ (ONES * u64::from(b'"')))
            | has_zero_byte(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = text.get(at) {
        if STOPS_STRING[usize::from(byte)] {
            return at;
        }
        at += 1;
    }
    at
}

#[inline(always)]
fn digits(text: &[u8], mut at: usize) -> usize {
    while let Some(b'0'..=b'9') = text.get(at) {
        at += 1;
    }
    at
}

/// A number without exponent and with a bounded count of digits.
#[inline(always)]
fn number(text: &[u8], mut at: usize) -> Option<usize> {
    if text[at] == b'-' {
        at += 1;
    }
    match *text.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => {
            let end = digits(text, at);
            if end - at > MAX_DIGITS {
                return None;
            }
            at = end;
        }
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        let end = digits(text, at + 1);
        if end == at + 1 || end - at - 1 > MAX_DIGITS {
            return None;
        }
        at = end;
    }
    (!matches!(text.get(at), Some(b'e' | b'E'))).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parses(text: &[u8]) -> bool {
        serde_json::from_slice::<Value>(text).is_ok()
    }

    #[test]
    fn common_documents_are_certainly_valid() {
        for text in [
            &br#"{"id": 7, "name": "Ada \"Countess\" Lovelace", "tags": ["a", "b\u00e9\n"], "ok": true, "none": null, "x": -0.5}"#[..],
            b" [ ] ",
            b"{}",
            b"\"\"",
            b"0",
            b"-12.75",
            "\"caf\u{e9} \u{1F600}\"".as_bytes(),
            b"{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
            b"\"0123456789abcdef0123456789\\t\"",
        ] {
            assert!(is_certainly_valid(text), "{}", String::from_utf8_lossy(text));
            assert!(parses(text));
        }
    }

    #[test]
    fn invalid_or_undecided_text_is_left_to_the_parser() {
        for text in [
            &b""[..],
            b"{",
            b"{\"a\" 1}",
            b"{\"a\": 1,}",
            b"[1,]",
            b"[1 2]",
            b"01",
            b"1.",
            b".5",
            b"-",
            b"tru",
            b"nul",
            b"{} {}",
            b"\"tab\there\"",
            b"\"\\x\"",
            b"\"\\u12G4\"",
            b"\"\\ud800\"",
            b"\"\\ud83d\\ude00\"",
            b"1e5",
            b"[1e400]",
            b"\"\xff\"",
            b"\"unterminated",
            b"{1: 2}",
        ] {
            assert!(
                !is_certainly_valid(text),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn deep_nesting_is_left_to_the_parser() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(is_certainly_valid(deep(MAX_DEPTH as usize).as_bytes()));
        assert!(!is_certainly_valid(deep(MAX_DEPTH as usize + 1).as_bytes()));
        assert!(!parses(deep(200).as_bytes()));
    }

    #[test]
    fn never_vouches_for_text_the_parser_refuses() {
        // Every prefix and every one-byte corruption of a document with every kind of value.
        let document = br#" {"s": "x\"y\\z\/\b\f\n\r\t\u0041", "n": [0, -1, 2.50, 123456789012345678901234567890], "b": [true, false, null], "o": {"": {}}} "#;
        let mut cases: Vec<Vec<u8>> = (0..=document.len())
            .map(|n| document[..n].to_vec())
            .collect();
        for at in 0..document.len() {
            for byte in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'e', b'.', b'-', b' ',
                0x01, 0xC3,
            ] {
                let mut corrupted = document.to_vec();
                corrupted[at] = byte;
                cases.push(corrupted);
            }
        }
        for case in cases {
            if is_certainly_valid(&case) {
                assert!(
                    parses(&case),
                    "vouched for {:?}",
                    String::from_utf8_lossy(&case)
                );
            }
        }
        assert!(is_certainly_valid(document));
    }
}
