//! Readers that turn each output language back into a flat list of atoms, the way the tool
//! that reads it would see it: YAML and JSON trees (with Compose's `$` interpolation, the
//! Kubernetes `$(VAR)` expansion in env values, and the Python of the Compose health check),
//! systemd units (line continuation, comments, C-escaped and quoted words, `$VAR` and `%`
//! specifiers), HAProxy (backslash escapes, quotes, `#` comments, `"$VAR"`), nginx (tokens,
//! blocks, `$variables`), bash (words, quotes, operators, command substitutions) and Markdown
//! (CommonMark with GitHub tables, by pulldown-cmark; `sh` blocks read as bash).
//!
//! Every text atom has the region between the sentinels replaced, and an atom with one
//! sentinel but not the other is an error: the value was cut in two.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};
use serde::Deserialize;

use super::{SA, SB};

/// The atoms of `text`, read as the language its file name says.
pub(crate) fn read(name: &str, text: &str) -> Result<Vec<String>, String> {
    // A `.patch` is a Kubernetes merge patch: YAML.
    let raw = if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".patch") {
        yaml(name, text)?
    } else if name.ends_with(".json") {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut atoms = Vec::new();
        flatten_json(&v, "", &mut atoms);
        atoms
    } else if name.ends_with(".service") || name.ends_with(".timer") {
        systemd(text)?
    } else if name.ends_with(".cfg") {
        haproxy(text)?
    } else if name.ends_with(".conf") {
        nginx(text)?
    } else if name.ends_with(".sh") {
        shell(text)?
    } else if name.ends_with(".md") {
        markdown(text)?
    } else if name.starts_with("Dockerfile") {
        dockerfile(text)
    } else {
        return Err(format!("no reader for {name}"));
    };
    raw.into_iter().map(|a| normalize(&a)).collect()
}

/// A Dockerfile as `docker build` reads it: one instruction per line (continuations joined), so
/// a value that adds a line adds an instruction.
fn dockerfile(text: &str) -> Vec<String> {
    let mut atoms = Vec::new();
    let mut instruction = String::new();
    for line in text.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            instruction.push_str(head);
            continue;
        }
        instruction.push_str(line);
        if !instruction.trim().is_empty() {
            atoms.push(std::mem::take(&mut instruction));
        }
        instruction.clear();
    }
    atoms
}

/// The atom with the text between each sentinel pair replaced; an unpaired sentinel is an
/// error.
pub(crate) fn normalize(atom: &str) -> Result<String, String> {
    // Some outputs lowercase a value (nginx's `$http_` variables): their sentinels too.
    let once = normalize_pair(atom, SA, SB)?;
    normalize_pair(&once, &SA.to_lowercase(), &SB.to_lowercase())
}

fn normalize_pair(atom: &str, sa: &str, sb: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = atom;
    loop {
        match (rest.find(sa), rest.find(sb)) {
            (None, None) => {
                out.push_str(rest);
                return Ok(out);
            }
            (Some(a), Some(b)) if a < b => {
                out.push_str(&rest[..a]);
                out.push_str(sa);
                out.push('…');
                out.push_str(sb);
                rest = &rest[b + sb.len()..];
            }
            _ => return Err(format!("a value was cut in two: {atom:?}")),
        }
    }
}

// ---------- YAML and JSON ----------

fn yaml(name: &str, text: &str) -> Result<Vec<String>, String> {
    yaml11_plain_scalars(text)?;
    let mut atoms = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::to_value(&value).map_err(|e| e.to_string())?;
        atoms.push(format!("DOC{i}"));
        flatten_json(&json, "", &mut atoms);
    }
    let compose = name.starts_with("docker-compose");
    let kubernetes = name.starts_with("k8s-");
    let mut out = Vec::new();
    for atom in atoms {
        let Some((path, value)) = atom.split_once("=s:") else {
            out.push(atom);
            continue;
        };
        let mut value = value.to_string();
        if compose {
            value = interpolate(&value, "${", &mut out, "COMPOSE-INTERPOLATION")?;
        }
        if kubernetes && path.contains(".env[") && path.ends_with(".value") {
            value = interpolate(&value, "$(", &mut out, "K8S-EXPANSION")?;
        }
        if compose && path.ends_with(".healthcheck.test[3]") {
            out.push(format!("{path}=python"));
            out.extend(python(&value)?);
        } else {
            out.push(format!("{path}=s:{value}"));
        }
    }
    Ok(out)
}

/// `$$` is a literal `$`; a `$` starting a reference (`$NAME`, or `open` such as `${` or
/// `$(`) is a structural atom.
pub(super) fn interpolate(
    value: &str,
    open: &str,
    atoms: &mut Vec<String>,
    what: &str,
) -> Result<String, String> {
    // One atom per value that holds references, however many: the structural fact is that
    // the reader substitutes something in it.
    let mut referenced = false;
    let mut out = String::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let next = chars.get(i + 1).copied();
            if next == Some('$') {
                out.push('$');
                i += 2;
                continue;
            }
            let opener = open.chars().nth(1);
            let starts_name = next.is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if (next == opener || (open == "${" && starts_name)) && !referenced {
                referenced = true;
                atoms.push(what.to_string());
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    Ok(out)
}

/// A line-based check of the YAML text: no plain scalar (key or value) that a YAML 1.1
/// reader would resolve to a bool, a number, a date or a merge key while the document means a
/// string.
fn yaml11_plain_scalars(text: &str) -> Result<(), String> {
    let mut block_indent: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(b) = block_indent {
            if line.trim().is_empty() || indent > b {
                continue;
            }
            block_indent = None;
        }
        let mut rest = line.trim_start();
        if rest.starts_with('#') {
            continue;
        }
        while let Some(r) = rest.strip_prefix("- ") {
            rest = r.trim_start();
        }
        let (key, value) = match rest.split_once(": ") {
            Some((k, v)) => (Some(k), v),
            None => match rest.strip_suffix(':') {
                Some(k) => (Some(k), ""),
                None => (None, rest),
            },
        };
        for scalar in key.into_iter().chain([value]) {
            let scalar = scalar.trim();
            if scalar.starts_with(['|', '>']) {
                block_indent = Some(indent);
            }
            if !scalar.is_empty() && canaryc::emit::yaml::is_yaml11_non_string(scalar) {
                // Plain numbers and booleans canaryc means as such are fine; the readers
                // compare types between the benign and hostile runs.
                if scalar.contains(SA) || scalar.contains(SB) {
                    return Err(format!("plain YAML 1.1 scalar {scalar:?}"));
                }
                if matches!(scalar, "no" | "on" | "yes" | "y" | "n" | "<<" | "=") {
                    return Err(format!("plain YAML 1.1 scalar {scalar:?} in {line:?}"));
                }
            }
        }
    }
    Ok(())
}

fn flatten_json(v: &serde_json::Value, path: &str, atoms: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Null => atoms.push(format!("{path}=null")),
        Value::Bool(b) => atoms.push(format!("{path}=b:{b}")),
        Value::Number(n) => atoms.push(format!("{path}=n:{n}")),
        // canary-plan.json's commands are command lines: their words are the structure.
        Value::String(s) if path.ends_with(".command_py2") || path.ends_with(".command_py3") => {
            match canaryc::check::strings::split_words(s) {
                Ok(words) => {
                    atoms.push(format!("{path}=command"));
                    atoms.extend(words.into_iter().map(|w| format!("CMD:{w}")));
                }
                Err(e) => atoms.push(format!("{path}=unsplittable {e:?}")),
            }
        }
        Value::String(s) => atoms.push(format!("{path}=s:{s}")),
        Value::Array(items) => {
            atoms.push(format!("{path}=[{}]", items.len()));
            for (i, item) in items.iter().enumerate() {
                flatten_json(item, &format!("{path}[{i}]"), atoms);
            }
        }
        Value::Object(map) => {
            atoms.push(format!("{path}={{{}}}", map.len()));
            for (k, item) in map {
                flatten_json(item, &format!("{path}.{k}"), atoms);
            }
        }
    }
}

/// Python tokens (the Compose health check's `python -c` program).
fn python(code: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = code.chars().collect();
    let mut atoms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(format!("unterminated Python string in {code:?}"));
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let e = *chars.get(i).ok_or("dangling backslash")?;
                    i += 1;
                    match e {
                        'x' => {
                            let hex: String = chars.get(i..i + 2).unwrap_or(&[]).iter().collect();
                            i += 2;
                            let b = u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            s.push(char::from(b));
                        }
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        other => s.push(other),
                    }
                } else if d == '\n' {
                    return Err("newline in a Python string".into());
                } else {
                    s.push(d);
                }
            }
            atoms.push(format!("PY-S:{s}"));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            atoms.push(format!(
                "PY-N:{}",
                chars[start..i].iter().collect::<String>()
            ));
        } else {
            atoms.push(format!("PY-O:{c}"));
            i += 1;
        }
    }
    Ok(atoms)
}

// ---------- systemd ----------

fn systemd(text: &str) -> Result<Vec<String>, String> {
    let mut logical = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let mut piece = current.take().unwrap_or_default();
        match line.strip_suffix('\\') {
            Some(start) => {
                piece.push_str(start);
                piece.push(' ');
                current = Some(piece);
            }
            None => {
                piece.push_str(line);
                logical.push(piece);
            }
        }
    }
    if let Some(rest) = current {
        logical.push(rest);
    }
    let mut atoms = Vec::new();
    for line in logical {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            atoms.push(format!("SECTION:{line}"));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("not KEY=VALUE: {line:?}"));
        };
        let (key, value) = (key.trim(), value.trim());
        atoms.push(format!("KEY:{key}"));
        match key {
            "ExecStart" => {
                for word in systemd_words(value)? {
                    let w = specifiers(&word, true, &mut atoms)?;
                    atoms.push(format!("W:{w}"));
                }
            }
            "Environment" => {
                for word in systemd_words(value)? {
                    let a = specifiers(&word, false, &mut atoms)?;
                    atoms.push(format!("A:{a}"));
                }
            }
            _ => {
                let v = specifiers(value, false, &mut atoms)?;
                atoms.push(format!("V:{v}"));
            }
        }
    }
    Ok(atoms)
}

/// `%%` to `%`, any other `%x` a specifier atom; with `dollars`, `$$` to `$` and `$NAME` or
/// `${NAME}` an environment-substitution atom.
fn specifiers(s: &str, dollars: bool, atoms: &mut Vec<String>) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('%', Some('%')) => {
                out.push('%');
                i += 2;
            }
            ('%', next) => {
                atoms.push(format!("SPECIFIER:{next:?}"));
                i += 2;
            }
            ('$', Some('$')) if dollars => {
                out.push('$');
                i += 2;
            }
            ('$', Some(c)) if dollars && (c == '{' || c.is_ascii_alphabetic() || c == '_') => {
                atoms.push("SYSTEMD-ENV".to_string());
                out.push('$');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// systemd's `extract_first_word(UNQUOTE | CUNESCAPE)`, word after word.
fn systemd_words(value: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = value.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match (quote, c) {
                (None, ' ' | '\t') => break,
                (None, '"' | '\'') => {
                    quote = Some(c);
                    i += 1;
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    i += 1;
                }
                (_, '\\') => {
                    i += 1;
                    let (ch, used) = cunescape(&chars[i..])?;
                    word.push(ch);
                    i += used;
                }
                (_, c) => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in {value:?}"));
        }
        words.push(word);
    }
}

fn cunescape(rest: &[char]) -> Result<(char, usize), String> {
    let c = *rest.first().ok_or("trailing backslash")?;
    Ok(match c {
        'n' => ('\n', 1),
        't' => ('\t', 1),
        'r' => ('\r', 1),
        'a' => ('\u{7}', 1),
        'b' => ('\u{8}', 1),
        'f' => ('\u{c}', 1),
        'v' => ('\u{b}', 1),
        's' => (' ', 1),
        '\\' | '"' | '\'' => (c, 1),
        'x' => {
            let hex: String = rest.get(1..3).ok_or("short \\x")?.iter().collect();
            let b = u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
            if b == 0 {
                return Err("\\x00 in a systemd word".into());
            }
            (char::from(b), 3)
        }
        other => return Err(format!("invalid escape \\{other}")),
    })
}

// ---------- HAProxy ----------

fn haproxy(text: &str) -> Result<Vec<String>, String> {
    let mut atoms = Vec::new();
    for line in text.split('\n') {
        let chars: Vec<char> = line.chars().collect();
        let mut words = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                ' ' | '\t' | '\r' => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                    i += 1;
                }
                '#' => break,
                '\\' => {
                    in_word = true;
                    let (ch, used) = haproxy_escape(&chars[i + 1..])?;
                    word.push_str(&ch);
                    i += 1 + used;
                }
                '\'' => {
                    in_word = true;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            Some('\'') => break,
                            Some(&c) => word.push(c),
                            None => return Err(format!("unterminated ' in {line:?}")),
                        }
                        i += 1;
                    }
                    i += 1;
                }
                '"' => {
                    in_word = true;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            Some('"') => break,
                            Some('\\') => {
                                let (ch, used) = haproxy_escape(&chars[i + 1..])?;
                                word.push_str(&ch);
                                i += used;
                            }
                            Some('$') => {
                                atoms.push("HAPROXY-ENV".to_string());
                                word.push('$');
                            }
                            Some(&c) => word.push(c),
                            None => return Err(format!("unterminated \" in {line:?}")),
                        }
                        i += 1;
                    }
                    i += 1;
                }
                c => {
                    in_word = true;
                    word.push(c);
                    i += 1;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        if !words.is_empty() {
            atoms.push("LINE".to_string());
            atoms.extend(words.into_iter().map(|w| format!("W:{w}")));
        }
    }
    Ok(atoms)
}

fn haproxy_escape(rest: &[char]) -> Result<(String, usize), String> {
    let c = *rest.first().ok_or("trailing backslash")?;
    Ok(match c {
        ' ' | '#' | '\\' | '\'' | '"' | '$' => (c.to_string(), 1),
        't' => ("\t".into(), 1),
        'n' => ("\n".into(), 1),
        'r' => ("\r".into(), 1),
        'x' => {
            let hex: String = rest.get(1..3).ok_or("short \\x")?.iter().collect();
            let b = u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
            (format!("<{b:02x}>"), 3)
        }
        other => return Err(format!("unknown escape \\{other}")),
    })
}

// ---------- nginx ----------

#[derive(Debug, PartialEq)]
enum NginxToken {
    Word(String),
    Semicolon,
    Open,
    Close,
}

fn nginx_tokens(text: &str) -> Result<Vec<NginxToken>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' => {
                tokens.push(NginxToken::Semicolon);
                i += 1;
            }
            '{' => {
                tokens.push(NginxToken::Open);
                i += 1;
            }
            '}' => {
                tokens.push(NginxToken::Close);
                i += 1;
            }
            '"' | '\'' => {
                let q = c;
                let mut word = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        Some(&d) if d == q => break,
                        Some('\\') => {
                            let e = *chars.get(i + 1).ok_or("dangling backslash")?;
                            match e {
                                '"' | '\'' | '\\' => word.push(e),
                                't' => word.push('\t'),
                                'r' => word.push('\r'),
                                'n' => word.push('\n'),
                                other => {
                                    word.push('\\');
                                    word.push(other);
                                }
                            }
                            i += 1;
                        }
                        Some(&d) => word.push(d),
                        None => return Err("unterminated nginx string".into()),
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(NginxToken::Word(word));
            }
            _ => {
                let mut word = String::new();
                while i < chars.len() {
                    let d = chars[i];
                    if d.is_whitespace() || d == ';' || d == '{' || d == '}' {
                        break;
                    }
                    if d == '\\' {
                        i += 1;
                        word.push(*chars.get(i).ok_or("dangling backslash")?);
                    } else if d == '"' || d == '\'' {
                        return Err(format!("quote inside an nginx word: {word}{d}"));
                    } else {
                        word.push(d);
                    }
                    i += 1;
                }
                tokens.push(NginxToken::Word(word));
            }
        }
    }
    Ok(tokens)
}

fn nginx(text: &str) -> Result<Vec<String>, String> {
    let mut atoms = Vec::new();
    let mut blocks: Vec<String> = Vec::new();
    let mut directive: Vec<String> = Vec::new();
    for token in nginx_tokens(text)? {
        match token {
            NginxToken::Word(w) => directive.push(w),
            NginxToken::Semicolon | NginxToken::Open => {
                let opens = token == NginxToken::Open;
                // Entries of map, split_clients and geo blocks are literal on the left.
                let literal_key = matches!(
                    blocks.last().map(String::as_str),
                    Some("map" | "split_clients" | "geo")
                );
                atoms.push(format!("DIRECTIVE{}", if opens { "{" } else { ";" }));
                for (i, w) in directive.iter().enumerate() {
                    if i == 0 && literal_key {
                        atoms.push(format!("KEY:{w}"));
                    } else {
                        let a = nginx_variables(w, &mut atoms);
                        atoms.push(format!("A:{a}"));
                    }
                }
                if opens {
                    blocks.push(directive.first().cloned().unwrap_or_default());
                }
                directive.clear();
            }
            NginxToken::Close => {
                if !directive.is_empty() {
                    return Err("a directive without `;` before `}`".into());
                }
                blocks.pop().ok_or("unbalanced `}`")?;
                atoms.push("END}".to_string());
            }
        }
    }
    if !blocks.is_empty() || !directive.is_empty() {
        return Err("unclosed block or directive".into());
    }
    Ok(atoms)
}

/// Variables in an argument become atoms; `${canary_dollar}` is canaryc's literal `$`.
fn nginx_variables(arg: &str, atoms: &mut Vec<String>) -> String {
    let arg = arg.replace(canaryc::emit::escape::nginx::DOLLAR, "\u{1}");
    let chars: Vec<char> = arg.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let (name, used) = if chars.get(i + 1) == Some(&'{') {
                let end = chars[i + 2..].iter().position(|&c| c == '}').unwrap_or(0);
                (
                    chars[i + 2..i + 2 + end].iter().collect::<String>(),
                    end + 3,
                )
            } else {
                let n = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count();
                (chars[i + 1..i + 1 + n].iter().collect::<String>(), n + 1)
            };
            atoms.push(format!("VAR:{name}"));
            out.push_str("$var");
            i += used;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.replace('\u{1}', "$")
}

// ---------- bash ----------

/// Bash's view of a script: words (quotes removed), operators, newlines, and command
/// substitutions (their inside read the same way).
pub(crate) fn shell(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut atoms = Vec::new();
    let end = shell_into(&chars, 0, None, &mut atoms)?;
    if end != chars.len() {
        return Err("unbalanced `)`".into());
    }
    Ok(atoms)
}

/// Reads from `i` until `close` (a `)` ending a substitution) or the end; returns where it
/// stopped (after `close`).
fn shell_into(
    chars: &[char],
    mut i: usize,
    close: Option<char>,
    atoms: &mut Vec<String>,
) -> Result<usize, String> {
    let mut word = String::new();
    let mut in_word = false;
    let flush = |word: &mut String, in_word: &mut bool, atoms: &mut Vec<String>| {
        if *in_word {
            atoms.push(format!("W:{}", std::mem::take(word)));
            *in_word = false;
        }
    };
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                flush(&mut word, &mut in_word, atoms);
                i += 1;
            }
            '\n' => {
                flush(&mut word, &mut in_word, atoms);
                atoms.push("NL".into());
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\\' => {
                in_word = true;
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&d) => word.push(d),
                    None => return Err("trailing backslash".into()),
                }
                i += 2;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while chars.get(i) != Some(&'\'') {
                    word.push(*chars.get(i).ok_or("unterminated '")?);
                    i += 1;
                }
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'\'') => {
                in_word = true;
                i += 2;
                loop {
                    match chars.get(i) {
                        Some('\'') => break,
                        Some('\\') => {
                            let e = *chars.get(i + 1).ok_or("unterminated $'")?;
                            match e {
                                'n' => word.push('\n'),
                                't' => word.push('\t'),
                                'r' => word.push('\r'),
                                'x' => {
                                    let hex: String =
                                        chars.get(i + 2..i + 4).unwrap_or(&[]).iter().collect();
                                    let b =
                                        u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                                    word.push_str(&format!("<{b:02x}>"));
                                    i += 2;
                                }
                                other => word.push(other),
                            }
                            i += 2;
                        }
                        Some(&d) => {
                            word.push(d);
                            i += 1;
                        }
                        None => return Err("unterminated $'".into()),
                    }
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        Some('"') => break,
                        Some('\\') => {
                            let e = *chars.get(i + 1).ok_or("unterminated \"")?;
                            if !matches!(e, '"' | '\\' | '$' | '`' | '\n') {
                                word.push('\\');
                            }
                            word.push(e);
                            i += 2;
                        }
                        Some('$') if chars.get(i + 1) == Some(&'(') => {
                            atoms.push("SUBST(".into());
                            i = shell_into(chars, i + 2, Some(')'), atoms)?;
                            atoms.push(")SUBST".into());
                            word.push_str("$(…)");
                        }
                        Some('`') => return Err("backtick substitution".into()),
                        Some(&d) => {
                            word.push(d);
                            i += 1;
                        }
                        None => return Err("unterminated \"".into()),
                    }
                }
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                in_word = true;
                atoms.push("SUBST(".into());
                i = shell_into(chars, i + 2, Some(')'), atoms)?;
                atoms.push(")SUBST".into());
                word.push_str("$(…)");
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                in_word = true;
                let start = i;
                while chars.get(i) != Some(&'}') {
                    i += 1;
                    if i >= chars.len() {
                        return Err("unterminated ${".into());
                    }
                }
                i += 1;
                word.extend(&chars[start..i]);
            }
            '`' => return Err("backtick substitution".into()),
            '(' => {
                flush(&mut word, &mut in_word, atoms);
                depth += 1;
                atoms.push("OP:(".into());
                i += 1;
            }
            ')' if depth > 0 => {
                flush(&mut word, &mut in_word, atoms);
                depth -= 1;
                atoms.push("OP:)".into());
                i += 1;
            }
            ')' if close == Some(')') => {
                flush(&mut word, &mut in_word, atoms);
                return Ok(i + 1);
            }
            ';' | '&' | '|' | '<' | '>' | ')' => {
                flush(&mut word, &mut in_word, atoms);
                let mut op = c.to_string();
                if chars.get(i + 1) == Some(&c) {
                    op.push(c);
                    i += 1;
                }
                atoms.push(format!("OP:{op}"));
                i += 1;
            }
            c => {
                in_word = true;
                word.push(c);
                i += 1;
            }
        }
    }
    if close.is_some() {
        return Err("unterminated $(".into());
    }
    flush(&mut word, &mut in_word, atoms);
    Ok(i)
}

// ---------- Markdown ----------

fn markdown(text: &str) -> Result<Vec<String>, String> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut atoms = Vec::new();
    let mut pending = String::new();
    let mut code_lang: Option<String> = None;
    let flush = |pending: &mut String, atoms: &mut Vec<String>| {
        if !pending.is_empty() {
            atoms.push(format!("TEXT:{}", std::mem::take(pending)));
        }
    };
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Text(t) if code_lang.is_some() => pending.push_str(&t),
            Event::Text(t) => pending.push_str(&t),
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut pending, &mut atoms);
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.to_string(),
                    CodeBlockKind::Indented => "indented".into(),
                };
                atoms.push(format!("CODEBLOCK:{lang}"));
                code_lang = Some(lang);
            }
            Event::End(pulldown_cmark::TagEnd::CodeBlock) => {
                let body = std::mem::take(&mut pending);
                if code_lang.as_deref() == Some("sh") {
                    atoms.extend(shell(&body)?.into_iter().map(|a| format!("SH:{a}")));
                } else {
                    atoms.extend(body.lines().map(|l| format!("LINE:{l}")));
                }
                atoms.push("END-CODEBLOCK".into());
                code_lang = None;
            }
            Event::Code(c) => {
                flush(&mut pending, &mut atoms);
                atoms.push(format!("CODE:{c}"));
            }
            Event::SoftBreak | Event::HardBreak => pending.push(' '),
            other => {
                flush(&mut pending, &mut atoms);
                atoms.push(format!("{other:?}"));
            }
        }
    }
    flush(&mut pending, &mut atoms);
    Ok(atoms)
}

#[test]
fn the_readers_see_injections() {
    // Each reader tells an injected structure from a quoted value.
    let quoted = read("x.sh", "echo 'Qz7Ka; id aKz7Q'\n").unwrap();
    let injected = read("x.sh", "echo Qz7Ka; id aKz7Q\n");
    assert_eq!(quoted, ["W:echo", "W:Qz7Ka…aKz7Q", "NL"]);
    assert!(injected.is_err(), "{injected:?}");
    assert!(read("h.cfg", "    cookie Qz7Ka#aKz7Q insert\n").is_err());
    assert_eq!(
        read("h.cfg", "    cookie Qz7Ka\\#aKz7Q insert\n").unwrap(),
        ["LINE", "W:cookie", "W:Qz7Ka…aKz7Q", "W:insert"]
    );
    assert!(
        read(
            "u.service",
            "[Service]\nUser=Qz7Ka\nExecStartPre=/x aKz7Q\n"
        )
        .is_err()
    );
    assert!(
        read("n.conf", "a \"Qz7Ka$x aKz7Q\";\n")
            .unwrap()
            .contains(&"VAR:x".to_string())
    );
    assert!(read("d.yaml", "env:\n- value: no\n").is_err());
    assert!(read("m.md", "| a | Qz7Ka | aKz7Q |\n|---|---|---|\n").is_err());
}
