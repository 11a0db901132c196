//! LSP positions are (line, UTF-16 code unit); our spans are byte offsets. Conversions here.
//!
//! Both directions are total: a position past a line's end is its end, past the last line the
//! text's end, and a position inside a character (the second unit of a surrogate pair, say)
//! is the character's end, so every offset returned lies on a character boundary.

use lsp_types::{Position, Range};

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

    /// The position of a byte offset (clamped to the text and to a char boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character: usize = self.text[self.starts[line]..offset]
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(saturate(line), saturate(character))
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The byte offset of a position (clamped to the line's end, before its newline).
    pub fn offset(&self, position: Position) -> usize {
        let (line, character) = (position.line as usize, position.character as usize);
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

    /// Byte offsets of a range, in order.
    pub fn offsets(&self, range: Range) -> (usize, usize) {
        let (a, b) = (self.offset(range.start), self.offset(range.end));
        (a.min(b), a.max(b))
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns() {
        // 'é' is one UTF-16 unit and two bytes; '𝄞' is two units and four bytes.
        let text = "ab\né𝄞x\n";
        let lines = Lines::new(text);
        assert_eq!(lines.position(3), Position::new(1, 0));
        assert_eq!(lines.position(5), Position::new(1, 1));
        assert_eq!(lines.position(9), Position::new(1, 3));
        assert_eq!(lines.offset(Position::new(1, 3)), 9);
        assert_eq!(lines.offset(Position::new(9, 0)), text.len());
        // Between the two halves of 𝄞's surrogate pair: the end of 𝄞.
        assert_eq!(lines.offset(Position::new(1, 2)), 9);
        assert_eq!(lines.offset(Position::new(0, u32::MAX)), 2);
    }

    #[test]
    fn every_position_is_on_a_character_boundary() {
        let text = "# a→b\n𝄞é\r\nx";
        let lines = Lines::new(text);
        for line in 0..5 {
            for character in 0..12 {
                let offset = lines.offset(Position::new(line, character));
                assert!(text.is_char_boundary(offset), "{line}:{character}");
            }
        }
    }
}
