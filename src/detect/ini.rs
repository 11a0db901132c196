//! A forgiving INI reader shared by the supervisord and systemd detectors: sections, `key=value`
//! with line numbers, continuation lines (indented) appended to the previous value.

pub(super) struct Section<'t> {
    pub name: &'t str,
    pub line: usize,
    pub entries: Vec<(&'t str, String, usize)>,
}

impl Section<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v, _)| v.as_str())
    }

    pub(super) fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(move |(k, _, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v, _)| v.as_str())
    }

    pub(super) fn line_of(&self, key: &str) -> usize {
        self.entries
            .iter()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(key))
            .map_or(self.line, |(_, _, l)| *l)
    }
}

pub(super) fn sections(text: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(Section {
                name: name.trim(),
                line: i + 1,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if raw.starts_with(char::is_whitespace) {
            if let Some(last) = section.entries.last_mut() {
                last.1.push(' ');
                last.1.push_str(line);
                continue;
            }
        }
        if let Some((key, value)) = line.split_once('=') {
            section
                .entries
                .push((key.trim(), value.trim().to_string(), i + 1));
        }
    }
    out
}
