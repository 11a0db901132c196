//! Source files, file ids and byte spans.
//!
//! Every AST node carries a [`Span`]: a file id plus byte offsets. Spans are resolved to
//! line/column only when a diagnostic is rendered, through the [`SourceMap`].

use std::fmt;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one file. `start..end`, half-open.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both (they must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}..{}", self.file.0, self.start, self.end)
    }
}

/// A value with the span it came from. Equality and hashing ignore the span, so two ASTs parsed
/// from differently formatted text compare equal.
#[derive(Clone, Copy, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned {
            value: f(self.value),
            span: self.span,
        }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The UTF-8 byte-order mark (U+FEFF) some Windows editors write at the start of a file.
pub const BOM: &str = "\u{feff}";

/// One source text and its name as shown to users (a path, or `<std>/schedules.plan`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    /// What the parser reads; spans are offsets into it. For a file read from disk, the file's
    /// bytes after any byte-order mark (see [`SourceFile::from_bytes`]).
    pub text: String,
    line_starts: Vec<usize>,
    /// Bytes of the file before `text`: the length of a byte-order mark, or 0.
    prefix: usize,
}

/// The first bytes of a file that are not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUtf8 {
    /// Where they start, as an offset into [`SourceFile::text`].
    pub offset: usize,
    /// The invalid sequence: one to three bytes.
    pub bytes: Vec<u8>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            prefix: 0,
        }
    }

    /// A file as read from disk. A leading byte-order mark is dropped from `text`, so the parser
    /// never sees an invisible character, but still counted by [`SourceFile::file_offset`], so
    /// byte offsets shown to tools point into the file as it is; lines and columns are those an
    /// editor shows (the mark takes no column).
    ///
    /// Bytes that are not UTF-8 are reported (the first sequence) and, in `text`, each replaced
    /// by `?`, one character per byte: the file can still be shown, and every offset before and
    /// after the bad bytes stays the file's own.
    pub fn from_bytes(
        name: impl Into<String>,
        bytes: Vec<u8>,
    ) -> (SourceFile, Option<InvalidUtf8>) {
        let prefix = if bytes.starts_with(BOM.as_bytes()) {
            BOM.len()
        } else {
            0
        };
        let (text, invalid) = match String::from_utf8(bytes) {
            Ok(mut text) => {
                text.drain(..prefix);
                (text, None)
            }
            Err(err) => {
                let bytes = err.into_bytes();
                let body = &bytes[prefix..];
                let mut text = String::with_capacity(body.len());
                let mut invalid = None;
                for chunk in body.utf8_chunks() {
                    text.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() && invalid.is_none() {
                        invalid = Some(InvalidUtf8 {
                            offset: text.len(),
                            bytes: chunk.invalid().to_vec(),
                        });
                    }
                    text.extend(std::iter::repeat_n('?', chunk.invalid().len()));
                }
                (text, invalid)
            }
        };
        let mut file = SourceFile::new(name, text);
        file.prefix = prefix;
        (file, invalid)
    }

    /// The offset in the file on disk of an offset into `text` (they differ by a byte-order mark).
    pub fn file_offset(&self, offset: usize) -> usize {
        offset + self.prefix
    }

    /// 1-based line and column (in characters) of a byte offset. Offsets past the end, or inside
    /// a multi-byte character, are clamped rather than panicking.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let column = self.text[start..end].chars().count() + 1;
        (line + 1, column)
    }

    /// The text of a span, or "" if the span is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// All files taking part in one compilation: the user's plans and the embedded stdlib.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.add_file(SourceFile::new(name, text))
    }

    /// Adds a file built with [`SourceFile::from_bytes`] (or [`SourceFile::new`]).
    pub fn add_file(&mut self, file: SourceFile) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 4 billion files"));
        self.files.push(file);
        id
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(FileId)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let f = SourceFile::new("x", "ab\ncé d\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'é' is two bytes: the space after it is the third character.
        assert_eq!(f.line_col(6), (2, 3));
        assert_eq!(
            f.line_col(5),
            (2, 2),
            "inside a multi-byte char clamps back"
        );
        assert_eq!(f.line_col(999), (3, 1));
    }

    #[test]
    fn a_byte_order_mark_is_not_text_but_still_counts_in_file_offsets() {
        let (f, invalid) = SourceFile::from_bytes("x", b"\xEF\xBB\xBFplan a {\n}\n".to_vec());
        assert_eq!(invalid, None);
        assert_eq!(f.text, "plan a {\n}\n");
        assert_eq!(f.line_col(0), (1, 1), "the mark takes no column");
        assert_eq!(f.line_col(5), (1, 6));
        assert_eq!(f.file_offset(5), 8, "offsets shown to tools are the file's");
        let (plain, _) = SourceFile::from_bytes("y", b"plan a {}\n".to_vec());
        assert_eq!(plain.file_offset(5), 5);
        // Only a mark at the very start is one; elsewhere U+FEFF is a character like any other.
        let (later, _) = SourceFile::from_bytes("z", "a\u{feff}".as_bytes().to_vec());
        assert_eq!(later.text, "a\u{feff}");
    }

    #[test]
    fn the_first_invalid_bytes_are_found_and_offsets_stay_the_files() {
        // "# José" saved as Latin-1, then a valid line with a multi-byte character.
        let bytes = b"plan a {\n  # Jos\xE9 \xFF\xFE\n  # caf\xC3\xA9\n}\n".to_vec();
        let (f, invalid) = SourceFile::from_bytes("x", bytes.clone());
        let invalid = invalid.expect("not UTF-8");
        assert_eq!(invalid.offset, 16);
        assert_eq!(invalid.bytes, vec![0xE9]);
        assert_eq!(f.line_col(invalid.offset), (2, 8));
        assert_eq!(f.text.len(), bytes.len(), "one `?` per invalid byte");
        assert!(f.text.contains("Jos? ??\n  # café"));
        // With a byte-order mark in front, the offset is into the text; the file's is 3 more.
        let mut marked = BOM.as_bytes().to_vec();
        marked.extend(&bytes);
        let (g, again) = SourceFile::from_bytes("y", marked);
        let again = again.expect("not UTF-8");
        assert_eq!((again.offset, g.file_offset(again.offset)), (16, 19));
        // A sequence cut off at the end of the file.
        let (_, cut) = SourceFile::from_bytes("z", b"ab\xE2\x82".to_vec());
        assert_eq!(
            cut,
            Some(InvalidUtf8 {
                offset: 2,
                bytes: vec![0xE2, 0x82]
            })
        );
    }

    #[test]
    fn spanned_equality_ignores_spans() {
        let a = Spanned::new(1, Span::new(FileId(0), 0, 1));
        let b = Spanned::new(1, Span::new(FileId(3), 7, 9));
        assert_eq!(a, b);
    }
}
