//! Detected values are attacker-controlled: anyone who can edit a manifest, a compose file or a
//! Procfile writes them, and canaryc copies them into load-balancer configs, units and the plan.
//! So each value is checked where it is read, against what its field holds (a port is a port, a
//! health path is a path), and dropped with a warning naming file:line when it is not; the
//! escapers in the backends are the second line, not the only one.
//!
//! Credentials are the other half: a literal password in a Deployment's env is flagged (by the
//! variable's name, or by the value's shape: URL userinfo, `--requirepass x`, a probe's
//! `Authorization` header) so that no document ever repeats it, and the team is told the fix.

use super::facts::{Credential, Evidence, Warning};

/// Why a value was refused, for the warning.
pub type Refusal = String;

fn control(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// A TCP port: digits only, 1 to 65535.
pub fn port(raw: &str) -> Result<u16, Refusal> {
    let t = raw.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 5 {
        return Err(format!("`{}` is not a port number", shown(raw)));
    }
    match t.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("{t} is not a port (1 to 65535)")),
    }
}

/// An HTTP path a health check can request: starts with `/`, and only characters that mean the
/// same thing in a URL, an HAProxy `http-check`, an nginx `location` and a YAML scalar. No
/// control characters, `#` (a comment in HAProxy and in the plan), spaces, quotes, `$` (an
/// nginx variable), `;`, braces or backslashes.
pub fn health_path(raw: &str) -> Result<String, Refusal> {
    if let Some(c) = control(raw) {
        return Err(format!("the health path contains {}", describe(c)));
    }
    if !raw.starts_with('/') {
        return Err(format!(
            "health path `{}` does not start with /",
            shown(raw)
        ));
    }
    if raw.len() > 256 {
        return Err("the health path is longer than 256 characters".into());
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-._~%!*+,=:@&?()".contains(*c)))
    {
        return Err(format!(
            "health path `{}` contains {}",
            shown(raw),
            describe(c)
        ));
    }
    Ok(raw.to_string())
}

/// A name that becomes part of object names: letters, digits, `.`, `_`, `-`, at most 253.
pub fn name(raw: &str) -> Result<String, Refusal> {
    if let Some(c) = control(raw) {
        return Err(format!("the name contains {}", describe(c)));
    }
    if raw.is_empty() || raw.len() > 253 {
        return Err("a name must have 1 to 253 characters".into());
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(format!("name `{}` contains {}", shown(raw), describe(c)));
    }
    Ok(raw.to_string())
}

/// An image reference: `registry:port/path/name:tag@sha256:digest`, nothing else.
pub fn image(raw: &str) -> Result<String, Refusal> {
    if let Some(c) = control(raw) {
        return Err(format!("the image reference contains {}", describe(c)));
    }
    if raw.contains("${") || raw.contains("{{") || raw.contains("$(") {
        return Err(format!(
            "image `{}` depends on a variable canaryc cannot resolve",
            shown(raw)
        ));
    }
    if raw.is_empty() || raw.len() > 512 {
        return Err("an image reference must have 1 to 512 characters".into());
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@+".contains(*c)))
    {
        return Err(format!(
            "image `{}` contains {}: not an image reference",
            shown(raw),
            describe(c)
        ));
    }
    if raw.starts_with(['-', '.', '/', ':', '@']) {
        return Err(format!("image `{}` is not an image reference", shown(raw)));
    }
    Ok(raw.to_string())
}

/// A command line: any text a shell reads, but no control characters or NUL bytes (which end a
/// unit file's line, or a C string, early). Tabs become spaces.
pub fn command(raw: &str) -> Result<String, Refusal> {
    let text = raw.replace('\t', " ");
    if let Some(c) = control(&text) {
        return Err(format!("the command contains {}", describe(c)));
    }
    if text.len() > 4096 {
        return Err("the command is longer than 4096 characters".into());
    }
    Ok(text.trim().to_string())
}

/// A value shortened and made printable for a warning.
pub fn shown(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if raw.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// Runs `check` on a value read at `evidence`; a refused value becomes a warning and `None`.
pub fn checked<T>(
    raw: &str,
    evidence: &Evidence,
    what: &str,
    check: impl Fn(&str) -> Result<T, Refusal>,
    warnings: &mut Vec<Warning>,
) -> Option<T> {
    match check(raw) {
        Ok(v) => Some(v),
        Err(why) => {
            warnings.push(Warning::rejected(
                evidence,
                format!("{what} dropped: {why}"),
            ));
            None
        }
    }
}

/// Words in a variable name that say its value is a secret.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PWD",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "CREDENTIALS",
    "APIKEY",
];

/// Names that end in these hold a place to find the secret, not the secret.
const REFERENCE_SUFFIXES: &[&str] = &[
    "FILE", "PATH", "DIR", "NAME", "USER", "USERNAME", "URL", "HOST", "PORT", "ID",
];

/// Whether a variable's name says it holds a secret: `DB_PASSWORD`, `SECRET_KEY`, `API_TOKEN`.
pub fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let Some(last) = words.last() else {
        return false;
    };
    if REFERENCE_SUFFIXES.contains(last) {
        return false;
    }
    let n = words.len();
    // KEY and PASS only as the last word: `SECRET_KEY`, `API_KEY`, but not `KEY_PREFIX`.
    (matches!(*last, "KEY" | "PASS") && (n < 2 || words[n - 2] != "PUBLIC"))
        || words.iter().any(|w| {
            SECRET_WORDS.contains(w)
                || w.ends_with("PASSWORD")
                || w.ends_with("SECRET")
                || w.ends_with("TOKEN")
        })
}

/// Whether a value is a literal (not empty, not only a reference to another variable).
fn literal(value: &str) -> bool {
    let v = value.trim().trim_matches(['"', '\'']);
    if v.is_empty() {
        return false;
    }
    let reference = (v.starts_with("${") && v.ends_with('}') && v.matches('}').count() == 1)
        || (v.starts_with('$')
            && v[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        || (v.starts_with("$(") && v.ends_with(')'))
        || (v.starts_with("{{") && v.ends_with("}}"));
    !reference
}

/// A URL with a literal password in its userinfo: `postgres://app:hunter2@db/app`.
pub fn url_credential(value: &str) -> bool {
    value.split_whitespace().any(|word| {
        let Some((_, rest)) = word.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let Some((userinfo, _)) = authority.rsplit_once('@') else {
            return false;
        };
        let Some((_, password)) = userinfo.split_once(':') else {
            return false;
        };
        literal(password) && !password.starts_with('$') && !password.contains("${")
    })
}

/// A command with a literal password flag: `redis-server --requirepass x`, `--password=x`.
pub fn command_credential(command: &str) -> Option<&'static str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let lower = w.to_ascii_lowercase();
        for flag in [
            "--requirepass",
            "requirepass",
            "--password",
            "--masterauth",
            "-p",
        ] {
            if flag == "-p" {
                continue; // too common (ports) to mean a password on its own
            }
            if lower == flag {
                if let Some(v) = words.get(i + 1) {
                    if literal(v) && !v.starts_with('-') {
                        return Some(if flag.contains("requirepass") {
                            "--requirepass"
                        } else {
                            "a password flag"
                        });
                    }
                }
            } else if let Some(v) = lower.strip_prefix(&format!("{flag}=")) {
                if literal(v) {
                    return Some("a password flag");
                }
            }
        }
    }
    url_credential(command).then_some("URL user:password")
}

/// Flags an environment variable; returns whether it is a credential.
pub fn env_value(
    name: &str,
    value: Option<&str>,
    evidence: &Evidence,
    fix: &str,
    credentials: &mut Vec<Credential>,
) -> bool {
    let Some(value) = value else { return false };
    let what = if secret_name(name) && literal(value) {
        format!("env {name}")
    } else if url_credential(value) {
        format!("env {name} (URL user:password)")
    } else {
        return false;
    };
    credentials.push(Credential {
        evidence: evidence.clone(),
        what,
        fix: fix.to_string(),
    });
    true
}

/// The fix to suggest, by where the literal sits.
pub const FIX_KUBERNETES: &str =
    "move the value into a Secret and refer to it with `valueFrom.secretKeyRef`";
pub const FIX_COMPOSE: &str =
    "move the value into an `env_file` kept out of the repository (or a Docker secret)";
pub const FIX_HOST: &str = "move the value into an environment file outside the repository (`EnvironmentFile=` for systemd)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_ports() {
        assert_eq!(port("8000"), Ok(8000));
        assert!(port("0").is_err());
        assert!(port("65536").is_err());
        assert!(port("80; rm").is_err());
        assert!(port("-1").is_err());
    }

    #[test]
    fn health_paths_are_paths() {
        assert!(health_path("/healthz").is_ok());
        assert!(health_path("/status?full=1").is_ok());
        for bad in [
            "/h\n    server evil 203.0.113.9:80 weight 256",
            "/h\n  }\n  monitor {",
            "/h#x",
            "/h x",
            "/h\"",
            "/h'",
            "/$host",
            "healthz",
            "/h\0",
        ] {
            assert!(health_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn images_and_names() {
        assert!(image("registry.internal:5000/team/app:2.7-40@sha256:abc").is_ok());
        assert!(image("app:${TAG}").is_err());
        assert!(image("app:1 --privileged").is_err());
        assert!(name("web_1").is_ok());
        assert!(name("web\n").is_err());
        assert!(name("a b").is_err());
        assert!(command("gunicorn\0 app").is_err());
        assert_eq!(command("gunicorn\tapp").unwrap(), "gunicorn app");
    }

    #[test]
    fn credentials_by_name_and_shape() {
        assert!(secret_name("DB_PASSWORD"));
        assert!(secret_name("SECRET_KEY"));
        assert!(secret_name("API_TOKEN"));
        assert!(secret_name("POSTGRES_PASSWORD"));
        assert!(!secret_name("PASSWORD_FILE"));
        assert!(!secret_name("PUBLIC_KEY"));
        assert!(!secret_name("KEYSPACE"));
        assert!(!secret_name("CACHE_KEY_PREFIX"));
        assert!(secret_name("AWS_SECRET_ACCESS_KEY"));
        assert!(!secret_name("DJANGO_SETTINGS_MODULE"));
        assert!(url_credential("postgres://app:hunter2@db/app"));
        assert!(!url_credential(
            "postgresql://ckan:${POSTGRES_PASSWORD}@db/ckan"
        ));
        assert!(!url_credential("redis://redis:6379/0"));
        assert_eq!(
            command_credential("redis-server --requirepass hunter2"),
            Some("--requirepass")
        );
        assert_eq!(command_credential("redis-server --requirepass $PASS"), None);
        let mut found = Vec::new();
        let at = Evidence::new("x.yaml", 3);
        assert!(env_value(
            "DB_PASSWORD",
            Some("hunter2"),
            &at,
            FIX_KUBERNETES,
            &mut found
        ));
        assert!(!env_value(
            "DB_PASSWORD",
            Some("${DB_PASSWORD}"),
            &at,
            FIX_KUBERNETES,
            &mut found
        ));
        assert!(!env_value(
            "DB_PASSWORD",
            Some(""),
            &at,
            FIX_KUBERNETES,
            &mut found
        ));
        assert_eq!(found.len(), 1);
    }
}
