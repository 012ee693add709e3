//! A quick check that bytes hold exactly one JSON value that `serde_json` parses, without
//! building the value. It answers "certainly valid" only for text the parser is known to
//! accept (same grammar, whitespace, control characters and UTF-8 rules); anything it does
//! not decide cheaply (exponents, surrogate escapes, very deep nesting or very long numbers)
//! is left to the parser, so the two never disagree.

/// Deepest nesting the quick check follows (the parser's limit is 127).
const MAX_DEPTH: usize = 64;
/// Longest run of digits accepted without the parser (f64 overflows past ~309 digits).
const MAX_DIGITS: usize = 300;

/// True when `text` is certainly one JSON value `serde_json::from_slice::<Value>` accepts;
/// false when it is invalid or when the parser has to decide.
pub fn is_certainly_valid(text: &[u8]) -> bool {
    if !text.is_ascii() && std::str::from_utf8(text).is_err() {
        return false;
    }
    let mut scanner = Scanner { text, at: 0 };
    scanner.skip_whitespace();
    if !scanner.value(0) {
        return false;
    }
    scanner.skip_whitespace();
    scanner.at == text.len()
}

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `word` if the text continues with it.
    fn literal(&mut self, word: &[u8]) -> bool {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => depth < MAX_DEPTH && self.object(depth + 1),
            Some(b'[') => depth < MAX_DEPTH && self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.at += 1; // {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return true;
        }
        loop {
            if self.peek() != Some(b'"') || !self.string() {
                return false;
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return false;
            }
            self.at += 1;
            self.skip_whitespace();
            if !self.value(depth) {
                return false;
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.at += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        self.at += 1; // [
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.at += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// A string: plain bytes are skipped eight at a time; escapes other than surrogate
    /// `\u` escapes are checked here.
    fn string(&mut self) -> bool {
        self.at += 1; // opening quote
        loop {
            self.skip_plain();
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1;
                        }
                        Some(b'u') => {
                            let Some(hex) = self.text.get(self.at + 1..self.at + 5) else {
                                return false;
                            };
                            let Some(code) = std::str::from_utf8(hex)
                                .ok()
                                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                                .and_then(|h| u16::from_str_radix(h, 16).ok())
                            else {
                                return false;
                            };
                            if (0xD800..=0xDFFF).contains(&code) {
                                return false; // surrogates: the parser decides
                            }
                            self.at += 5;
                        }
                        _ => return false,
                    }
                }
                // A control character, or the end of the text.
                _ => return false,
            }
        }
    }

    /// Skips bytes that need no attention inside a string: not `"`, not `\`, not below 0x20.
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let has_zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        while let Some(chunk) = self.text.get(self.at..self.at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let special = has_zero_byte(word ^ (ONES * u64::from(b'"')))
                | has_zero_byte(word ^ (ONES * u64::from(b'\\')))
                | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
            if special != 0 {
                break;
            }
            self.at += 8;
        }
        while let Some(byte) = self.peek() {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                return;
            }
            self.at += 1;
        }
    }

    /// A number without exponent and with a bounded count of digits (the parser decides the
    /// others, which may overflow).
    fn number(&mut self) -> bool {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |scanner: &mut Self| {
            let start = scanner.at;
            while let Some(b'0'..=b'9') = scanner.peek() {
                scanner.at += 1;
            }
            scanner.at - start
        };
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                if digits(self) > MAX_DIGITS {
                    return false;
                }
            }
            _ => return false,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let fraction = digits(self);
            if fraction == 0 || fraction > MAX_DIGITS {
                return false;
            }
        }
        !matches!(self.peek(), Some(b'e' | b'E'))
    }
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
        assert!(is_certainly_valid(deep(MAX_DEPTH).as_bytes()));
        assert!(!is_certainly_valid(deep(MAX_DEPTH + 1).as_bytes()));
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
