//! Shortening text for people.

/// `text` if it has at most `max_chars` characters, else its beginning and
/// end around a note of how much was left out. Both ends are kept because
/// appended values differ at the end and put values at the start.
pub(crate) fn abbreviate(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_string();
    }
    let head = max_chars / 2;
    let tail = max_chars - head;
    let byte_at = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(at, _)| at)
    };
    format!(
        "{} … [{} characters left out] … {}",
        &text[..byte_at(head)],
        total - head - tail,
        &text[byte_at(total - tail)..]
    )
}

#[cfg(test)]
mod tests {
    use super::abbreviate;

    #[test]
    fn short_text_is_kept_and_long_text_keeps_both_ends() {
        assert_eq!(abbreviate("abc", 3), "abc");
        assert_eq!(
            abbreviate("abcdefgh", 4),
            "ab … [4 characters left out] … gh"
        );
        assert_eq!(abbreviate("ééééé", 3), "é … [2 characters left out] … éé");
    }
}
