//! LSP positions are (line, UTF-16 code unit); our spans are byte offsets. Conversions here.

use serde_json::{Value, json};

/// Line starts of a text, for conversions both ways.
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    /// `{line, character}` of a byte offset (clamped to the text and to a char boundary).
    pub fn position(&self, offset: usize) -> Value {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character: usize = self.text[self.starts[line]..offset]
            .chars()
            .map(char::len_utf16)
            .sum();
        json!({ "line": line, "character": character })
    }

    pub fn range(&self, start: usize, end: usize) -> Value {
        json!({ "start": self.position(start), "end": self.position(end) })
    }

    /// The byte offset of an LSP position (clamped to the line's end).
    pub fn offset(&self, position: &Value) -> usize {
        let line = position["line"].as_u64().unwrap_or(0) as usize;
        let character = position["character"].as_u64().unwrap_or(0) as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let end = self.starts.get(line + 1).map_or(self.text.len(), |&e| e);
        let mut units = 0;
        for (i, c) in self.text[start..end].char_indices() {
            if units >= character || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns() {
        // 'é' is one UTF-16 unit and two bytes; '𝄞' is two units and four bytes.
        let text = "ab\né𝄞x\n";
        let lines = Lines::new(text);
        assert_eq!(lines.position(3), json!({"line": 1, "character": 0}));
        assert_eq!(lines.position(5), json!({"line": 1, "character": 1}));
        assert_eq!(lines.position(9), json!({"line": 1, "character": 3}));
        assert_eq!(lines.offset(&json!({"line": 1, "character": 3})), 9);
        assert_eq!(
            lines.offset(&json!({"line": 9, "character": 0})),
            text.len()
        );
    }
}
