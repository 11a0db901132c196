//! A small Markdown builder: headings, paragraphs, lists, tables, code blocks. The runbooks are
//! written through it, so table cells are escaped in one place (`cell`) and every code block
//! gets a fence longer than any backtick run inside it (`escape::markdown::fence`). Text from
//! the plan or the codebase is still escaped where it enters (`escape::markdown::text`,
//! `code`); what a cell must never hold, an unescaped `|`, is made safe here.

use super::md;

#[derive(Debug, Default)]
pub(super) struct Doc {
    out: String,
}

impl Doc {
    pub(super) fn new() -> Doc {
        Doc::default()
    }

    pub(super) fn finish(self) -> String {
        self.out
    }

    /// Text as it is, for what the engines' and the comparator's docs already wrote.
    pub(super) fn raw(&mut self, text: &str) -> &mut Doc {
        self.out.push_str(text);
        self
    }

    /// One line.
    pub(super) fn line(&mut self, text: impl AsRef<str>) -> &mut Doc {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
        self
    }

    /// An empty line.
    pub(super) fn blank(&mut self) -> &mut Doc {
        self.out.push('\n');
        self
    }

    /// `## Title` and the blank line after it.
    pub(super) fn heading(&mut self, level: usize, title: impl AsRef<str>) -> &mut Doc {
        self.out.push_str(&"#".repeat(level));
        self.out.push(' ');
        self.line(title).blank()
    }

    /// A paragraph and the blank line after it.
    pub(super) fn paragraph(&mut self, text: impl AsRef<str>) -> &mut Doc {
        self.line(text).blank()
    }

    /// A bulleted list, then a blank line.
    pub(super) fn bullets<S: AsRef<str>>(
        &mut self,
        items: impl IntoIterator<Item = S>,
    ) -> &mut Doc {
        for item in items {
            self.out.push_str("- ");
            self.line(item);
        }
        self.blank()
    }

    /// A table's header and separator; rows follow with `row`.
    pub(super) fn table_header(&mut self, columns: &[&str]) -> &mut Doc {
        self.row(columns);
        self.out.push('|');
        for _ in columns {
            self.out.push_str("---|");
        }
        self.blank()
    }

    /// A table row: each cell with its `|` escaped.
    pub(super) fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> &mut Doc {
        self.out.push('|');
        for c in cells {
            self.out.push(' ');
            self.out.push_str(&cell(c.as_ref()));
            self.out.push_str(" |");
        }
        self.blank()
    }

    /// A fenced code block, each line prefixed by `indent` (a list item's code is indented
    /// under it).
    pub(super) fn code_block<S: AsRef<str>>(
        &mut self,
        indent: &str,
        lang: &str,
        lines: &[S],
    ) -> &mut Doc {
        let fence = md::fence(lines);
        self.out.push_str(&format!("{indent}{fence}{lang}\n"));
        for l in lines {
            self.out.push_str(indent);
            self.line(l);
        }
        self.out.push_str(&format!("{indent}{fence}\n"));
        self
    }
}

/// A table cell: every `|` that is not already escaped gets a backslash (GitHub splits cells
/// on it even inside a code span).
pub(super) fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('|') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 4);
    let mut backslashes = 0;
    for c in text.chars() {
        if c == '|' && backslashes % 2 == 0 {
            out.push('\\');
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        out.push(c);
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_bare_pipes_once() {
        assert_eq!(cell("a | b"), "a \\| b");
        assert_eq!(cell("`x\\|y`"), "`x\\|y`");
        assert_eq!(cell("a\\\\|b"), "a\\\\\\|b");
        assert_eq!(cell("plain"), "plain");
    }

    #[test]
    fn tables_and_code_blocks() {
        let mut d = Doc::new();
        d.table_header(&["a", "b"]).row(&["1|2", "`3`"]);
        d.code_block("   ", "sh", &["echo ```"]);
        assert_eq!(
            d.finish(),
            "| a | b |\n|---|---|\n| 1\\|2 | `3` |\n   ````sh\n   echo ```\n   ````\n"
        );
    }
}
