//! Every string of the IR, hostile, straight into the emitters.
//!
//! The checker and the detectors validate what they accept, but the emitters must not rely on
//! it: a value that reaches the IR by a path nobody thought of (a new detector, a merge rule)
//! must still leave every output's structure alone. So these cases skip the checker: they
//! take the IR of each template plan and set one string (a health path, an image, a word or
//! the program of a command, the working directory, the user, an environment variable's name or
//! value, the sticky cookie or header, an approval, a stage name, the description, a detected
//! fact, a hazard's evidence, the Compose build context) to `SA + hostile + SB`.
//!
//! Names of the plan, its services and its namespace are not among them: the checker holds
//! them to DNS labels (CNR109) and they are file and object names in every output.

use std::collections::HashMap;

use canaryc::emit::emit;
use canaryc::emit::escape::shell;
use canaryc::ir::{EnvVar, HazardIr, Ir};

use super::plan_strings::{Field, Outcome, TEMPLATES, build, instantiate};
use super::{Rng, Structure, cases, difference, planted, structure_of};
use crate::common::check_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Health,
    ImagePy2,
    ImagePy3,
    CommandWord,
    CommandProgram,
    Workdir,
    User,
    EnvName,
    EnvValue,
    Sticky,
    Approval,
    StageName,
    Description,
    Detected,
    HazardEvidence,
    BuildContext,
}

const SLOTS: &[Slot] = &[
    Slot::Health,
    Slot::ImagePy2,
    Slot::ImagePy3,
    Slot::CommandWord,
    Slot::CommandProgram,
    Slot::Workdir,
    Slot::User,
    Slot::EnvName,
    Slot::EnvValue,
    Slot::Sticky,
    Slot::Approval,
    Slot::StageName,
    Slot::Description,
    Slot::Detected,
    Slot::HazardEvidence,
    Slot::BuildContext,
];

/// The IR of a template with benign values, as `canaryc build` lowers it.
fn base_ir(template: &str) -> Ir {
    let (text, _) = instantiate(template, Field::Description, "benign");
    let Ok(Outcome::Built(_)) = build(&text, None) else {
        panic!("template does not build:\n{text}");
    };
    let (analysis, _) = check_text("t.plan", &text);
    let plan = analysis.plan.expect("a plan");
    canaryc::ir::lower(&plan, None, Some(".")).0
}

/// Sets `slot` of `ir` to `value`; false when the template has no such string.
fn plant(ir: &mut Ir, slot: Slot, value: &str) -> bool {
    let s = &mut ir.services[0];
    match slot {
        Slot::Health => s.health = Some(format!("/{value}")),
        Slot::ImagePy2 => s.image_py2 = Some(format!("registry.internal/{value}:1")),
        Slot::ImagePy3 => s.image_py3 = Some(format!("registry.internal/{value}:1")),
        Slot::CommandWord => {
            let Some(c) = &mut s.command_py2 else {
                return false;
            };
            *c = format!("{c} {}", shell::posix_word(value));
        }
        Slot::CommandProgram => {
            if s.command_py3.is_none() {
                return false;
            }
            s.command_py3 = Some(format!(
                "{} --bind 0.0.0.0:{} shop.wsgi",
                shell::posix_word(&format!("/srv/{value}/venv3/bin/gunicorn")),
                s.port
            ));
        }
        Slot::Workdir => s.workdir = format!("/srv/{value}"),
        Slot::User => s.user = Some(value.to_string()),
        Slot::EnvName | Slot::EnvValue => {
            let (name, v) = if slot == Slot::EnvName {
                (value.to_string(), "v".to_string())
            } else {
                ("HOSTILE".to_string(), value.to_string())
            };
            for list in [&mut s.env_py2, &mut s.env_py3] {
                list.push(EnvVar {
                    name: name.clone(),
                    value: v.clone(),
                    reason: None,
                    credential: false,
                });
            }
        }
        Slot::Sticky => {
            let Some(st) = &mut ir.sticky else {
                return false;
            };
            st.name = value.to_string();
        }
        Slot::Approval => ir.stages[0].approval = Some(value.to_string()),
        Slot::StageName => ir.stages[0].name = value.to_string(),
        Slot::Description => ir.description = Some(value.to_string()),
        Slot::Detected => {
            ir.detected.infra.push(format!("kubernetes: {value}:1"));
            ir.detected
                .services
                .push(format!("shop ({value}), health /{value}"));
            ir.detected.iac.push(format!("terraform module: {value}:2"));
        }
        Slot::HazardEvidence => ir.hazards.push(HazardIr {
            id: "pickle-shared-cache".into(),
            blocker: true,
            title: "pickles in a shared cache".into(),
            mitigation: "prefix the keys".into(),
            evidence: vec![format!("{value}/settings.py:3")],
        }),
        Slot::BuildContext => {
            s.build_context = Some(format!("../{value}"));
            // The context is used where a copy is built from source.
            s.image_py2 = None;
        }
    }
    true
}

/// The benign stand-in that takes the same branch of the emitters as `hostile`.
fn benign_like(slot: Slot, hostile: &str) -> String {
    match slot {
        Slot::Sticky => Field::Cookie.benign_like(hostile),
        _ => "benign".into(),
    }
}

#[derive(Default)]
pub(crate) struct Tally {
    pub cases: usize,
    pub failures: Vec<String>,
}

pub(crate) fn run(n: usize, seed: u64) -> Tally {
    let bases: Vec<Ir> = TEMPLATES.iter().map(|(_, t)| base_ir(t)).collect();
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut baselines: HashMap<(usize, Slot, String), Option<Structure>> = HashMap::new();
    while tally.cases < n {
        let t = rng.below(bases.len());
        let slot = SLOTS[rng.below(SLOTS.len())];
        let hostile = rng.hostile();
        let benign = benign_like(slot, &hostile);
        let key = (t, slot, benign.clone());
        let expected = baselines
            .entry(key)
            .or_insert_with(|| {
                let mut ir = bases[t].clone();
                plant(&mut ir, slot, &planted(&benign))
                    .then(|| structure_of(&emit(&ir)).expect("benign outputs read"))
            })
            .clone();
        let Some(expected) = expected else { continue };
        let mut ir = bases[t].clone();
        plant(&mut ir, slot, &planted(&hostile));
        tally.cases += 1;
        let name = TEMPLATES[t].0;
        match structure_of(&emit(&ir)) {
            Err(e) => tally
                .failures
                .push(format!("{name} {slot:?} {hostile:?}: {e}")),
            Ok(got) => {
                if let Some(d) = difference(&expected, &got) {
                    tally
                        .failures
                        .push(format!("{name} {slot:?} {hostile:?}: {d}"));
                }
            }
        }
    }
    tally
}

#[test]
fn hostile_ir_strings_change_no_output_structure() {
    let tally = run(cases(400), 17);
    eprintln!(
        "IR strings: {} cases, {} structural changes",
        tally.cases,
        tally.failures.len()
    );
    super::assert_none_failed(tally.cases, &tally.failures);
}
