//! Every string field of a plan, hostile, through the checker and every backend.
//!
//! For each case a template plan (one per infrastructure and router) gets one field set to
//! `SA + hostile + SB`. Either the checker rejects it, with a string-validation code at the
//! span of that very literal, or the plan builds and its outputs read back to the same
//! structure as the template with a benign value there.

use std::collections::HashMap;

use canaryc::diag::{Code, Severity};
use canaryc::emit::escape::shell;
use canaryc::emit::{OutputFile, emit};

use super::{Rng, Structure, cases, difference, planted, structure_of};
use crate::common::check_text;

/// The plan fields that hold strings, and how each is written into a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Description,
    Health,
    ImagePy2,
    ImagePy3,
    /// One word of the py2 command (shell-quoted inside the command line).
    CommandWord,
    /// A directory of the py3 command's program path (the runbook derives the venv from it).
    CommandProgram,
    EnvValue,
    EnvPy3Value,
    /// The name of an environment variable (an identifier in the grammar).
    EnvName,
    Approval,
    Cookie,
    Header,
    Namespace,
    Codebase,
}

pub(crate) const FIELDS: &[Field] = &[
    Field::Description,
    Field::Health,
    Field::ImagePy2,
    Field::ImagePy3,
    Field::CommandWord,
    Field::CommandProgram,
    Field::EnvValue,
    Field::EnvPy3Value,
    Field::EnvName,
    Field::Approval,
    Field::Cookie,
    Field::Header,
    Field::Namespace,
    Field::Codebase,
];

impl Field {
    fn placeholder(self) -> &'static str {
        match self {
            Field::Description => "@desc@",
            Field::Health => "@health@",
            Field::ImagePy2 => "@image2@",
            Field::ImagePy3 => "@image3@",
            Field::CommandWord => "@cmd2@",
            Field::CommandProgram => "@cmd3@",
            Field::EnvValue => "@envval@",
            Field::EnvPy3Value => "@env3val@",
            Field::EnvName => "@envname@",
            Field::Approval => "@approval@",
            Field::Cookie => "@cookie@",
            Field::Header => "@header@",
            Field::Namespace => "@namespace@",
            Field::Codebase => "@codebase@",
        }
    }

    /// The field's text in the plan for `value`.
    fn literal(self, value: &str) -> String {
        match self {
            Field::EnvName => value.to_string(),
            Field::Health => string(&format!("/{value}")),
            Field::CommandWord => string(&format!(
                "/srv/shop/venv/bin/gunicorn --bind 0.0.0.0:8000 {} shop.wsgi",
                shell::posix_word(value)
            )),
            Field::CommandProgram => string(&format!(
                "{} --bind 0.0.0.0:8000 shop.wsgi",
                shell::posix_word(&format!("/srv/{value}/venv3/bin/gunicorn"))
            )),
            Field::ImagePy2 | Field::ImagePy3 => string(&format!("registry.internal/{value}:1")),
            _ => string(value),
        }
    }

    /// A benign value that takes the same path through the emitters as `hostile` does (a
    /// cookie name nginx cannot read as `$cookie_NAME`, a credential-shaped value).
    pub(crate) fn benign_like(self, hostile: &str) -> String {
        match self {
            Field::Cookie | Field::Header if hostile.contains('$') => "b$b".into(),
            Field::Cookie | Field::Header
                if !hostile
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                "b-b".into()
            }
            Field::EnvValue | Field::EnvPy3Value
                if canaryc::check::strings::credential_reason(None, &super::planted(hostile))
                    .is_some() =>
            {
                "postgres://u:pw@db/x".into()
            }
            Field::EnvName => "GREETING".into(),
            Field::ImagePy2 | Field::ImagePy3 | Field::Namespace => "b".into(),
            _ => "benign".into(),
        }
    }
}

/// A plan string literal holding exactly `value` (the grammar's escapes: `\"`, `\\`, `\n`,
/// `\t`; every other character as it is).
pub(crate) fn string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Template plans, one per infrastructure and router, with every string field a placeholder.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "bare-metal-haproxy",
        "plan shop {\n  description = @desc@\n  codebase = @codebase@\n  python = 2.7 -> 3.12\n  infra = bare-metal(router: haproxy)\n  service {\n    port = 8000\n    health = @health@\n    command py2 = @cmd2@\n    command py3 = @cmd3@\n    env { @envname@ = @envval@ }\n    env py3 { EXTRA = @env3val@ }\n  }\n  route { sticky = cookie(@cookie@) }\n  schedule {\n    stage canary-5pct { traffic = 5% hold = 2h success when { approval @approval@ } }\n    stage full { traffic = 100% hold = 2h }\n  }\n}\n",
    ),
    (
        "bare-metal-nginx-header",
        "plan shop {\n  python = 2.7 -> 3.12\n  infra = bare-metal(router: nginx)\n  service {\n    port = 8000\n    health = @health@\n    command py2 = @cmd2@\n    command py3 = @cmd3@\n    env { @envname@ = @envval@ }\n  }\n  route { sticky = header(@header@) }\n}\n",
    ),
    (
        "compose-haproxy",
        "plan shop {\n  python = 2.7 -> 3.13\n  infra = docker-compose(router: haproxy)\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    env { @envname@ = @envval@ }\n    env py3 { EXTRA = @env3val@ }\n  }\n  route { sticky = cookie(@cookie@) }\n}\n",
    ),
    (
        "compose-nginx",
        "plan shop {\n  python = 2.7 -> 3.13\n  infra = docker-compose(router: nginx)\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    env { @envname@ = @envval@ }\n  }\n  route { sticky = cookie(@cookie@) }\n}\n",
    ),
    (
        "k8s-istio",
        "plan shop {\n  namespace = @namespace@\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    env { @envname@ = @envval@ }\n    env py3 { EXTRA = @env3val@ }\n  }\n  route { sticky = cookie(@cookie@) }\n  schedule {\n    stage canary-5pct { traffic = 5% hold = 2h success when { approval @approval@ } }\n    stage full { traffic = 100% hold = 2h }\n  }\n}\n",
    ),
    (
        "k8s-gateway-api",
        "plan shop {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: gateway-api)\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    env { @envname@ = @envval@ }\n  }\n  route { sticky = cookie(@cookie@) }\n}\n",
    ),
    (
        "k8s-nginx-ingress",
        "plan shop {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: nginx-ingress)\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    env { @envname@ = @envval@ }\n  }\n  route { sticky = cookie(@cookie@) }\n}\n",
    ),
    (
        "multi-target",
        "plan shop {\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), bare-metal(router: haproxy)]\n  service {\n    port = 8000\n    health = @health@\n    image py2 = @image2@\n    image py3 = @image3@\n    command py2 = @cmd2@\n    command py3 = @cmd3@\n    env { @envname@ = @envval@ }\n  }\n  monitor { source = app }\n}\n",
    ),
];

/// The template with `field` set to `value` and every other field benign; the byte range of
/// the field's literal.
pub(crate) fn instantiate(
    template: &str,
    field: Field,
    value: &str,
) -> (String, Option<(usize, usize)>) {
    let mut text = template.to_string();
    for f in FIELDS.iter().filter(|f| **f != field) {
        let literal = if *f == Field::Codebase {
            string(".")
        } else {
            f.literal(&f.benign_like(""))
        };
        text = text.replace(f.placeholder(), &literal);
    }
    let mut range = None;
    if let Some(at) = text.find(field.placeholder()) {
        let literal = field.literal(value);
        range = Some((at, at + literal.len()));
        text.replace_range(at..at + field.placeholder().len(), &literal);
    }
    (text, range)
}

/// Codes the checker answers a hostile string with.
const STRING_CODES: &[Code] = &[
    Code::InvalidName,
    Code::ValueOutOfRange,
    Code::InvalidHealthPath,
    Code::ControlCharacter,
    Code::InvalidImage,
    Code::InvalidCommand,
    Code::InvalidEnvName,
    Code::StickyNameUnreadable,
];

pub(crate) enum Outcome {
    Rejected,
    Built(Vec<OutputFile>),
}

/// Checks and builds a plan text in-process, as `canaryc build` does without a codebase.
pub(crate) fn build(text: &str, range: Option<(usize, usize)>) -> Result<Outcome, String> {
    let (analysis, _) = check_text("hostile.plan", text);
    let errors: Vec<_> = analysis
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        let (start, end) = range.ok_or("an error without a hostile field")?;
        let at_field = errors.iter().any(|d| {
            STRING_CODES.contains(&d.code)
                && d.primary.span.start as usize >= start
                && d.primary.span.end as usize <= end
        });
        if !at_field {
            return Err(format!(
                "rejected, but not at the field's literal {start}..{end}: {:?}",
                errors
                    .iter()
                    .map(|d| (d.code, d.primary.span.start, d.primary.span.end, &d.message))
                    .collect::<Vec<_>>()
            ));
        }
        return Ok(Outcome::Rejected);
    }
    let plan = analysis.plan.ok_or("no plan and no error")?;
    let context = plan.codebase.as_ref().map(|c| c.value.clone());
    let (ir, diagnostics) = canaryc::ir::lower(&plan, None, context.as_deref());
    if let Some(d) = diagnostics.iter().find(|d| d.severity == Severity::Error) {
        return Err(format!("lowering failed: {}", d.message));
    }
    Ok(Outcome::Built(emit(&ir)))
}

#[derive(Default)]
pub(crate) struct Tally {
    pub cases: usize,
    pub rejected: usize,
    pub built: usize,
    pub failures: Vec<String>,
    pub validated: usize,
    pub validator_failures: Vec<String>,
}

/// Runs `n` cases from `seed`; with `validate`, every `validate`-th built case also goes
/// through validate-outputs.
pub(crate) fn run(n: usize, seed: u64, validate: Option<usize>) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut baselines: HashMap<(usize, Field, String), Structure> = HashMap::new();
    let applicable: Vec<(usize, Field)> = TEMPLATES
        .iter()
        .enumerate()
        .flat_map(|(t, (_, text))| {
            FIELDS
                .iter()
                .filter(|f| text.contains(f.placeholder()))
                .map(move |f| (t, *f))
        })
        .collect();
    for case in 0..n {
        let (t, field) = applicable[rng.below(applicable.len())];
        let (template_name, template) = TEMPLATES[t];
        let hostile = if field == Field::EnvName {
            // An identifier in the grammar: YAML 1.1 words, `-`, and the like.
            ["no", "on", "y", "True", "NULL", "_", "a-b", "x-", "Y2024"][rng.below(9)].to_string()
        } else {
            rng.hostile()
        };
        let value = if field == Field::EnvName {
            hostile.clone()
        } else {
            planted(&hostile)
        };
        tally.cases += 1;
        let (text, range) = instantiate(template, field, &value);
        let outcome = match build(&text, range) {
            Ok(o) => o,
            Err(e) => {
                tally.failures.push(format!(
                    "case {case} {template_name} {field:?} {hostile:?}: {e}"
                ));
                continue;
            }
        };
        let files = match outcome {
            Outcome::Rejected => {
                tally.rejected += 1;
                continue;
            }
            Outcome::Built(files) => files,
        };
        tally.built += 1;
        let benign = field.benign_like(&hostile);
        let key = (t, field, benign.clone());
        if !baselines.contains_key(&key) {
            let benign_value = if field == Field::EnvName {
                benign.clone()
            } else {
                planted(&benign)
            };
            let (btext, brange) = instantiate(template, field, &benign_value);
            let Ok(Outcome::Built(bfiles)) = build(&btext, brange) else {
                panic!("the benign {template_name} {field:?} plan does not build:\n{btext}");
            };
            baselines.insert(
                key.clone(),
                structure_of(&bfiles).expect("benign outputs read"),
            );
        }
        let expected = &baselines[&key];
        match structure_of(&files) {
            Err(e) => tally.failures.push(format!(
                "case {case} {template_name} {field:?} {hostile:?}: {e}"
            )),
            Ok(got) if field != Field::EnvName => {
                if let Some(d) = difference(expected, &got) {
                    tally.failures.push(format!(
                        "case {case} {template_name} {field:?} {hostile:?}: {d}"
                    ));
                }
            }
            Ok(_) => {}
        }
        if let Some(every) = validate {
            if tally.built % every == 0 && !super::looks_like_placeholder(&hostile) {
                let dir = std::env::temp_dir()
                    .join(format!("canaryc-hostile-plan-{}", std::process::id()));
                super::write_files(&dir, &files);
                tally.validated += 1;
                if let Err(e) = super::validate(&dir) {
                    tally.validator_failures.push(format!(
                        "case {case} {template_name} {field:?} {hostile:?}: {}",
                        e.lines()
                            .filter(|l| l.contains("FAIL"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    tally
}

pub(crate) fn report(what: &str, tally: &Tally) {
    eprintln!(
        "{what}: {} cases, {} rejected by the checker at the field, {} built, {} structural changes; {} validated, {} validator failures",
        tally.cases,
        tally.rejected,
        tally.built,
        tally.failures.len(),
        tally.validated,
        tally.validator_failures.len()
    );
}

#[test]
fn hostile_plan_strings_are_rejected_at_their_span_or_change_no_structure() {
    let n = cases(400);
    let validate = std::env::var("CANARYC_HOSTILE_VALIDATE")
        .ok()
        .and_then(|v| v.parse().ok());
    let tally = run(n, 16, validate);
    report("plan strings", &tally);
    assert!(tally.built > 0 && tally.rejected > 0, "both outcomes occur");
    super::assert_none_failed(tally.cases, &tally.failures);
    assert!(
        tally.validator_failures.is_empty(),
        "validate-outputs failed on {} of {}:\n{}",
        tally.validator_failures.len(),
        tally.validated,
        tally
            .validator_failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
