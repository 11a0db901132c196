//! The `plan` block: identity, Python versions, infrastructure, services, routing, monitoring;
//! then the checks that need the whole plan (criteria against triggers, router capabilities,
//! Python lifecycle).

use super::Checker;
use super::entries::Entries;
use super::rollback::metric_name;
use super::schema::{self, Ty};
use super::value::{fmt_duration, fmt_number};
use crate::diag::{Code, Diagnostic};
use crate::model::*;
use crate::source::{Span, Spanned};
use crate::syntax::ast::{Block, Ident, Value, ValueKind};

impl<'a> Checker<'a> {
    pub(crate) fn plan(&mut self, block: &'a Block) -> Option<Plan> {
        let plan_span = block.keyword.span;
        let name = match &block.label {
            Some(label) => {
                self.valid_name(label, "plan");
                label.clone()
            }
            None => {
                self.report(
                    Diagnostic::new(Code::MissingField, plan_span, "a plan needs a name")
                        .label("name missing")
                        .help("write `plan my-service { ... }`: the name prefixes every generated object"),
                );
                Spanned::new(String::new(), plan_span)
            }
        };
        let fields = self.entries(&block.body, &schema::PLAN);

        let namespace = fields.get("namespace").and_then(|a| {
            let ns = self.string(&a.value, "namespace = \"payments\"")?;
            self.valid_name(&ns, "namespace");
            Some(ns)
        });
        let description = fields
            .get("description")
            .and_then(|a| self.string(&a.value, "description = \"...\""))
            .filter(|d| self.one_line(d, "the description", true));
        let codebase = fields
            .get("codebase")
            .and_then(|a| self.string(&a.value, "codebase = \".\""))
            .filter(|c| self.one_line(c, "the codebase path", false));
        let python = match fields.get("python") {
            Some(a) => self.python(&a.value),
            None => {
                self.report(
                    Diagnostic::new(
                        Code::MissingField,
                        name.span,
                        "the plan does not say which Python it moves to",
                    )
                    .label("`python` missing")
                    .help("add `python = 2.7 -> 3.13`"),
                );
                None
            }
        };
        let infra = match fields.get("infra") {
            Some(a) => self.infra(&a.value),
            None => vec![Spanned::new(
                InfraTarget {
                    kind: InfraKind::Auto,
                    router: None,
                    engine: None,
                },
                name.span,
            )],
        };
        let start = fields
            .get("start")
            .and_then(|a| self.date(&a.value, schema::PLAN.must("start")));
        let (traffic, py2_error_rate) = self.expected_traffic(&fields);

        let mut services: Vec<Service> = Vec::new();
        // The first service of each name, so that a duplicate is found without comparing every
        // pair of services (100,000 services took 40 s).
        let mut first_named: std::collections::HashMap<String, Span> =
            std::collections::HashMap::new();
        for service_block in fields.blocks("service") {
            if let Some(service) = self.service(service_block, &name, &first_named) {
                first_named.insert(service.name.value.clone(), service.name.span);
                services.push(service);
            }
        }
        if services.is_empty() {
            services.push(Service {
                name: name.clone(),
                ..Service::default()
            });
        }
        let route = self
            .single_block(&fields, "route")
            .map(|b| self.route(b))
            .unwrap_or_default();
        let monitor = self
            .single_block(&fields, "monitor")
            .map(|b| self.monitor(b))
            .unwrap_or_default();
        let compare = self
            .single_block(&fields, "compare")
            .map(|b| self.compare(b));

        let rollback_block = self.single_block(&fields, "rollback");
        let rollback_attr = fields.get("rollback");
        self.not_both(
            rollback_block,
            rollback_attr.map(|a| a.key.span),
            "rollback",
        );
        let rollback = self.plan_rollback(rollback_block, rollback_attr, plan_span);

        let schedule_block = self.single_block(&fields, "schedule");
        let schedule_attr = fields.get("schedule");
        self.not_both(
            schedule_block,
            schedule_attr.map(|a| a.key.span),
            "schedule",
        );
        let schedule = self.plan_schedule(schedule_block, schedule_attr);

        if let Some(schedule) = &schedule {
            self.criteria_against_triggers(schedule, &rollback);
            self.windows_against_holds(schedule, &rollback);
        }
        if let Some(sticky) = &route.sticky {
            self.sticky_against_routers(sticky, &infra);
        }
        self.engines_against_plan(&infra, schedule.as_ref(), route.sticky.as_ref());
        if let Some(python) = &python {
            self.check_lifecycle(python, start);
        }

        let plan = Plan {
            name,
            description,
            namespace,
            codebase,
            python: python?,
            infra,
            start,
            services,
            route,
            rollback,
            schedule: schedule?,
            monitor,
            traffic,
            py2_error_rate,
            compare,
        };
        self.detection_against_holds(&plan);
        self.comparator_ports(&plan);
        // With a codebase, its ports are only known once detection is merged in: `compile`
        // checks them there.
        if plan.codebase.is_none() {
            for d in super::ports::port_collisions(&plan) {
                self.report(d);
            }
        }
        Some(plan)
    }

    /// `traffic = 40/s` and `py2_error_rate = 0.1%`, on the plan or a service.
    fn expected_traffic(
        &mut self,
        fields: &Entries<'a>,
    ) -> (Option<Spanned<f64>>, Option<Spanned<f64>>) {
        let traffic = fields.get("traffic").and_then(|a| {
            let value = self.resolve(&a.value);
            match value.value {
                ValueKind::Rate(r) if r.is_finite() && r > 0.0 => Some(Spanned::new(r, a.value.span)),
                ValueKind::Rate(_) => {
                    self.report(
                        Diagnostic::new(Code::ValueOutOfRange, a.value.span, "a traffic of no requests")
                            .label("must be above 0/s")
                            .help("the requests per second the service usually serves, e.g. `traffic = 40/s`"),
                    );
                    None
                }
                ValueKind::Number { ref text, .. } => {
                    let text = text.clone();
                    self.report(
                        Diagnostic::new(Code::TypeMismatch, a.value.span, "expected a rate, found a number")
                            .label("requests per what?")
                            .help(format!("add a unit: `{text}/s`, `{text}/m` or `{text}/h`")),
                    );
                    None
                }
                _ => {
                    self.mismatch(&a.value, Ty::Rate, "traffic = 40/s");
                    None
                }
            }
        });
        let py2_error_rate = fields
            .get("py2_error_rate")
            .and_then(|a| self.percent(&a.value, schema::PLAN.must("py2_error_rate")))
            .and_then(|p| {
                if p.value > 0.0 && p.value < 100.0 {
                    Some(p)
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            p.span,
                            "py2 cannot fail never or always",
                        )
                        .label("must be above 0% and below 100%")
                        .help("py2's usual share of 5xx responses, e.g. `py2_error_rate = 0.1%`"),
                    );
                    None
                }
            });
        (traffic, py2_error_rate)
    }

    /// Kubernetes object names must be DNS-1123 labels: they become Deployment, Service and
    /// alert names.
    pub(crate) fn valid_name(&mut self, name: &Spanned<String>, what: &str) {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !ok {
            let suggestion: String = name
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
                .trim_matches('-')
                .chars()
                .take(63)
                .collect();
            self.report(
                Diagnostic::new(
                    Code::InvalidName,
                    name.span,
                    format!("`{}` cannot name a {what}", super::strings::shown(&name.value)),
                )
                .label("not a DNS label")
                .help(format!(
                    "names become Kubernetes and file names: lowercase letters, digits and `-`, at most 63 characters{}",
                    if suggestion.is_empty() { String::new() } else { format!(", e.g. `{suggestion}`") }
                )),
            );
        }
    }

    fn single_block(&mut self, fields: &Entries<'a>, keyword: &str) -> Option<&'a Block> {
        let mut blocks = fields.blocks(keyword);
        let first = blocks.next()?;
        for extra in blocks {
            self.report(
                Diagnostic::new(
                    Code::DuplicateField,
                    extra.keyword.span,
                    format!("a plan has one `{keyword}` block"),
                )
                .label("second block")
                .secondary(first.keyword.span, "first one here")
                .help("merge the two blocks"),
            );
        }
        Some(first)
    }

    fn not_both(&mut self, block: Option<&'a Block>, attribute: Option<Span>, keyword: &str) {
        if let (Some(block), Some(attribute)) = (block, attribute) {
            self.report(
                Diagnostic::new(
                    Code::DuplicateField,
                    block.keyword.span,
                    format!("`{keyword}` is given twice"),
                )
                .label("block form")
                .secondary(attribute, "reference form")
                .help(format!(
                    "use either `{keyword} = NAME {{ overrides }}` or an inline `{keyword} {{ ... }}`, not both"
                )),
            );
        }
    }

    fn python(&mut self, value: &Value) -> Option<PythonPair> {
        let resolved = self.resolve(value);
        let ValueKind::Arrow(from, to) = &resolved.value else {
            self.mismatch(value, Ty::PythonPair, "python = 2.7 -> 3.13");
            return None;
        };
        let source = self.version(from)?;
        let target = self.version(to)?;
        if source.value.major != 2 {
            self.report(
                Diagnostic::new(
                    Code::InvalidPythonVersion,
                    source.span,
                    format!(
                        "canaryc plans moves from Python 2, not from {}",
                        source.value
                    ),
                )
                .label("source must be 2.x")
                .help("write the version the service runs today: `python = 2.7 -> 3.13`"),
            );
            return None;
        }
        if target.value.major != 3 || target.value < super::lifecycle::OLDEST_TARGET {
            self.report(
                Diagnostic::new(
                    Code::InvalidPythonVersion,
                    target.span,
                    format!(
                        "Python {} is not a target canaryc can plan for",
                        target.value
                    ),
                )
                .label(format!(
                    "expected 3.{} or later",
                    super::lifecycle::OLDEST_TARGET.minor
                ))
                .help("target a supported Python 3, e.g. `python = 2.7 -> 3.13`"),
            );
            return None;
        }
        Some(PythonPair { source, target })
    }

    fn version(&mut self, value: &Value) -> Option<Spanned<PyVersion>> {
        let parsed = match &value.value {
            ValueKind::Number { text, .. } => {
                let mut parts = text.split('.');
                match (parts.next(), parts.next()) {
                    (Some(major), Some(minor)) => major.parse().ok().zip(minor.parse().ok()),
                    _ => None,
                }
            }
            _ => None,
        };
        match parsed {
            Some((major, minor)) => Some(Spanned::new(PyVersion { major, minor }, value.span)),
            None => {
                let found = value.value.describe();
                self.report(
                    Diagnostic::new(
                        Code::InvalidPythonVersion,
                        value.span,
                        format!("expected a Python version such as 3.13, found {found}"),
                    )
                    .label("not MAJOR.MINOR")
                    .help("write `python = 2.7 -> 3.13`"),
                );
                None
            }
        }
    }

    fn infra(&mut self, value: &Value) -> Vec<Spanned<InfraTarget>> {
        let resolved = self.resolve(value);
        let items: Vec<&Value> = match &resolved.value {
            ValueKind::List(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut out: Vec<Spanned<InfraTarget>> = Vec::new();
        for item in items {
            let Some(target) = self.infra_target(item) else {
                continue;
            };
            if let Some(first) = out.iter().find(|t| t.kind == target.kind) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateField,
                        item.span,
                        format!("{} is listed twice", target.kind.as_str()),
                    )
                    .label("listed again")
                    .secondary(first.span, "first here")
                    .help("list each infrastructure once"),
                );
                continue;
            }
            if target.kind == InfraKind::Auto && !out.is_empty() {
                self.report(
                    Diagnostic::new(Code::UnknownVariant, item.span, "`auto` cannot be combined with other targets")
                        .label("auto here")
                        .help("either let canaryc detect the infrastructure (`infra = auto`) or list the targets"),
                );
                continue;
            }
            out.push(Spanned::new(target, item.span));
        }
        out
    }

    fn infra_target(&mut self, value: &Value) -> Option<InfraTarget> {
        let example = "infra = kubernetes(router: istio)";
        let value = self.resolve(value);
        let (name_value, args) = match &value.value {
            ValueKind::Ident(_) => (value.clone(), &[][..]),
            ValueKind::Call { name, args } => (
                Spanned::new(ValueKind::Ident(name.value.clone()), name.span),
                args.as_slice(),
            ),
            _ => {
                self.mismatch(value, Ty::Infra, example);
                return None;
            }
        };
        let kind_name = self.name_of(&name_value, InfraKind::NAMES, "infrastructure", example)?;
        let kind = InfraKind::parse(kind_name.value)?;
        let mut router = None;
        // The engine is checked after the router, whatever order they are written in.
        let mut engine_value: Option<&Value> = None;
        for arg in args {
            if let Some(arg_name) = arg.name.as_ref().filter(|n| n.value == "engine") {
                if engine_value.is_some() {
                    self.report(
                        Diagnostic::new(
                            Code::DuplicateField,
                            arg_name.span,
                            "the engine is given twice",
                        )
                        .label("second engine")
                        .help("one engine per infrastructure"),
                    );
                } else {
                    engine_value = Some(&arg.value);
                }
                continue;
            }
            if let Some(arg_name) = arg.name.as_ref().filter(|n| n.value != "router") {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        arg_name.span,
                        format!("{} takes no `{}`", kind.as_str(), arg_name.value),
                    )
                    .label("unknown argument")
                    .help(format!(
                        "the arguments are the router and the engine: `{}`",
                        "kubernetes(router: istio, engine: argo-rollouts)"
                    )),
                );
                continue;
            }
            if router.is_some() {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateField,
                        arg.value.span,
                        "the router is given twice",
                    )
                    .label("second router")
                    .help("one router per infrastructure; list the infrastructure twice for two"),
                );
                continue;
            }
            let Some(r) = self.name_of(&arg.value, Router::NAMES, "router", example) else {
                continue;
            };
            let r = Router::parse(r.value)?;
            router = Some(r);
            if kind == InfraKind::Auto || !kind.routers().contains(&r) {
                let allowed: Vec<&str> = kind.routers().iter().map(|r| r.as_str()).collect();
                self.report(
                    Diagnostic::new(
                        Code::RouterInfraMismatch,
                        arg.value.span,
                        format!("{} cannot route {}", r.as_str(), kind.as_str()),
                    )
                    .label("router does not fit")
                    .help(if allowed.is_empty() {
                        "`auto` detects the router too; name the infrastructure to choose one"
                            .to_string()
                    } else {
                        format!(
                            "{} canaries use {}",
                            kind.as_str(),
                            super::entries::quote_list(&allowed)
                        )
                    }),
                );
                router = None;
                continue;
            }
            if r == Router::NginxIngress {
                // shared/reference/canary-systems.md: ingress-nginx was retired in March 2026.
                self.report(
                    Diagnostic::new(
                        Code::RouterRetired,
                        arg.value.span,
                        "ingress-nginx was retired in March 2026 and gets no more fixes",
                    )
                    .label("retired router")
                    .help("prefer `kubernetes(router: gateway-api)`; canaryc still generates canary Ingresses for it"),
                );
            }
        }
        let engine = engine_value.and_then(|v| self.engine_arg(kind, router, v));
        Some(InfraTarget {
            kind,
            router,
            engine,
        })
    }

    fn service(
        &mut self,
        block: &'a Block,
        plan_name: &Ident,
        first_named: &std::collections::HashMap<String, Span>,
    ) -> Option<Service> {
        let name = block.label.clone().unwrap_or_else(|| plan_name.clone());
        if block.label.is_some() {
            self.valid_name(&name, "service");
        }
        if let Some(&first) = first_named.get(&name.value) {
            self.report(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    block.label.as_ref().map_or(block.keyword.span, |l| l.span),
                    format!("two services are named `{}`", name.value),
                )
                .label("second service")
                .secondary(first, "first one")
                .help("with several services, label each: `service api { ... }`, `service worker { ... }`"),
            );
            return None;
        }
        let fields = self.entries(&block.body, &schema::SERVICE);
        let mut service = Service {
            name,
            ..Service::default()
        };
        for (key, slot) in [
            ("port", &mut service.port),
            ("public_port", &mut service.public_port),
        ] {
            *slot = fields.get(key).and_then(|a| {
                let port = self.int(&a.value, schema::SERVICE.must(key), 1, 65_535)?;
                Some(port.map(|p| u16::try_from(p).unwrap_or(u16::MAX)))
            });
        }
        service.health = fields.get("health").and_then(|a| {
            let path = self.string(&a.value, "health = \"/healthz\"")?;
            // Load balancers, probes and Python's urlopen send it as the request's path: only
            // URL characters, so it cannot end a config line or a quoted string early.
            if let Some(problem) = super::strings::health_path_problem(&path.value) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidHealthPath,
                        path.span,
                        format!(
                            "health check path `{}` is not an absolute URL path",
                            super::strings::shown(&path.value)
                        ),
                    )
                    .label(problem)
                    .help(
                        "write the path the load balancer requests, e.g. `health = \"/healthz\"`",
                    ),
                );
                return None;
            }
            Some(path)
        });
        (service.traffic, service.py2_error_rate) = self.expected_traffic(&fields);
        service.replicas = fields.get("replicas").and_then(|a| {
            let n = self.int(&a.value, schema::SERVICE.must("replicas"), 1, 10_000)?;
            Some(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
        });
        for copy in ["py2", "py3"] {
            let image_value = fields
                .qualified("image", copy)
                .and_then(|a| {
                    self.nonempty_string(&a.value, "image py3 = \"registry.internal/app:3.13\"")
                })
                .filter(|i| self.one_line(i, "the image", false) && self.valid_image(i));
            let command_value = fields
                .qualified("command", copy)
                .and_then(|a| {
                    self.nonempty_string(
                        &a.value,
                        "command py3 = \"/srv/app/venv3/bin/gunicorn app.wsgi\"",
                    )
                })
                .filter(|c| self.one_line(c, "the command", false) && self.valid_command(c));
            if let Some(command) = &command_value {
                self.literal_credential(None, command);
            }
            if copy == "py2" {
                service.image_py2 = image_value;
                service.command_py2 = command_value;
            } else {
                service.image_py3 = image_value;
                service.command_py3 = command_value;
            }
        }
        if let Some(resources) = self.single_block(&fields, "resources") {
            let r = self.entries(&resources.body, &schema::RESOURCES);
            service.cpu_millis = r.get("cpu").and_then(|a| {
                let cores = self.number(&a.value, schema::RESOURCES.must("cpu"))?;
                let millis = (cores.value * 1000.0).round();
                if !(1.0..=1_000_000.0).contains(&millis) {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            cores.span,
                            format!("{} CPU cores", fmt_number(cores.value)),
                        )
                        .label("must be between 0.001 and 1000 cores")
                        .help("`cpu = 0.5` is half a core"),
                    );
                    return None;
                }
                Some(Spanned::new(millis as u32, cores.span))
            });
            service.memory_bytes = r.get("memory").and_then(|a| {
                let size = self.size(&a.value, schema::RESOURCES.must("memory"))?;
                if size.value < 16 << 20 {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            size.span,
                            "less than 16Mi of memory",
                        )
                        .label("too small for a Python process")
                        .help(
                            "a Python web worker needs tens of MiB at least, e.g. `memory = 512Mi`",
                        ),
                    );
                    return None;
                }
                Some(size)
            });
        }
        for env in fields.blocks("env") {
            let vars = self.env(env);
            match env.label.as_ref().map(|l| l.value.as_str()) {
                Some("py3") => service.env_py3.extend(vars),
                None => service.env.extend(vars),
                Some(other) => {
                    let span = env.label.as_ref().map_or(env.keyword.span, |l| l.span);
                    self.report(
                        Diagnostic::new(Code::UnknownVariant, span, format!("`env {other}` names no copy"))
                            .label("expected py3 or nothing")
                            .help("`env py3 { ... }` is for the py3 copy; `env { ... }` for both. py2 keeps its environment as it is"),
                    );
                }
            }
        }
        Some(service)
    }

    fn nonempty_string(&mut self, value: &Value, example: &str) -> Option<Spanned<String>> {
        let s = self.string(value, example)?;
        if s.trim().is_empty() {
            self.report(
                Diagnostic::new(Code::ValueOutOfRange, s.span, "an empty string")
                    .label("empty")
                    .help(format!("for example: `{example}`")),
            );
            return None;
        }
        Some(s)
    }

    fn env(&mut self, block: &'a Block) -> Vec<(Spanned<String>, Spanned<String>)> {
        let mut vars: Vec<(Spanned<String>, Spanned<String>)> = Vec::new();
        let mut first_set: std::collections::HashMap<&str, Span> = std::collections::HashMap::new();
        for entry in &block.body.entries {
            let crate::syntax::ast::Entry::Attribute(attribute) = entry else {
                let span = match entry {
                    crate::syntax::ast::Entry::Block(b) => b.keyword.span,
                    crate::syntax::ast::Entry::Condition(c) => c.span.0,
                    crate::syntax::ast::Entry::Attribute(a) => a.key.span,
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        span,
                        "an `env` block holds only `NAME = \"value\"` lines",
                    )
                    .label("not a variable")
                    .help("e.g. `env py3 { LANG = \"C.UTF-8\" }`"),
                );
                continue;
            };
            let key = &attribute.key;
            if let Some(&first) = first_set.get(key.value.as_str()) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateField,
                        key.span,
                        format!("`{}` is set twice", key.value),
                    )
                    .label("set again")
                    .secondary(first, "first set here")
                    .help("keep one of them"),
                );
                continue;
            }
            let name_ok = self.valid_env_name(key);
            if let Some(value) = self.string(&attribute.value, "LANG = \"C.UTF-8\"") {
                first_set.insert(key.value.as_str(), key.span);
                if self.one_line(&value, &format!("the value of `{}`", key.value), false) && name_ok
                {
                    self.literal_credential(Some(&key.value), &value);
                    vars.push((key.clone(), value));
                }
            }
        }
        vars
    }

    fn route(&mut self, block: &'a Block) -> Route {
        let fields = self.entries(&block.body, &schema::ROUTE);
        let sticky = fields.get("sticky").and_then(|a| self.sticky(&a.value));
        let bind = fields.get("bind").and_then(|a| {
            let text = self.string(&a.value, "bind = \"127.0.0.1\"")?;
            match text.parse::<std::net::IpAddr>() {
                Ok(ip) => Some(Spanned::new(ip, text.span)),
                Err(_) => {
                    self.report(
                        Diagnostic::new(Code::ValueOutOfRange, text.span, format!("`{}` is not an IP address", text.value))
                            .label("expected an IPv4 or IPv6 address")
                            .help("e.g. `bind = \"127.0.0.1\"`; leave `bind` out to listen on all interfaces"),
                    );
                    None
                }
            }
        });
        Route { sticky, bind }
    }

    fn sticky(&mut self, value: &Value) -> Option<Spanned<Sticky>> {
        let example = "sticky = cookie(\"py_version\")";
        let resolved = self.resolve(value);
        match &resolved.value {
            ValueKind::Ident(n) if n == "none" => None,
            ValueKind::Call { name, args } if name.value == "cookie" || name.value == "header" => {
                let by = if name.value == "cookie" {
                    StickyBy::Cookie
                } else {
                    StickyBy::Header
                };
                let [arg] = args.as_slice() else {
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            value.span,
                            format!("{}() takes one name", name.value),
                        )
                        .label("expected one argument")
                        .help(format!("e.g. `{example}`")),
                    );
                    return None;
                };
                let cookie = self.string(&arg.value, example)?;
                if cookie.is_empty()
                    || !cookie
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
                {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            cookie.span,
                            format!(
                                "`{}` is not a valid {} name",
                                super::strings::shown(&cookie.value),
                                name.value
                            ),
                        )
                        .label("not an HTTP token")
                        .help("use letters, digits, `-` and `_`, e.g. `py_version`"),
                    );
                    return None;
                }
                if by == StickyBy::Header && !super::strings::is_portable_header_name(&cookie) {
                    self.report(
                        Diagnostic::new(
                            Code::StickyNameUnreadable,
                            cookie.span,
                            format!("the routers that split by header cannot read a `{}` header", cookie.value),
                        )
                        .label("only letters, digits and `-`")
                        .help("nginx drops header names with other characters (`ignore_invalid_headers`, and `_` unless `underscores_in_headers`), and HAProxy's `req.hdr()` ends its argument at punctuation: name a header like `X-User-Id`"),
                    );
                    return None;
                }
                Some(Spanned::new(
                    Sticky {
                        by,
                        name: cookie.value,
                    },
                    value.span,
                ))
            }
            ValueKind::Call { name, .. } => {
                let help = crate::diag::did_you_mean(&name.value, ["cookie", "header"])
                    .unwrap_or_else(|| {
                        format!(
                            "write `{example}`, `sticky = header(\"X-User-Id\")` or `sticky = none`"
                        )
                    });
                self.report(
                    Diagnostic::new(
                        Code::UnknownVariant,
                        name.span,
                        format!("cannot stick by `{}`", name.value),
                    )
                    .label("expected cookie or header")
                    .help(help),
                );
                None
            }
            _ => {
                self.mismatch(value, Ty::Sticky, example);
                None
            }
        }
    }

    fn monitor(&mut self, block: &'a Block) -> Monitor {
        let fields = self.entries(&block.body, &schema::MONITOR);
        let mut monitor = Monitor::default();
        if let Some(a) = fields.get("source") {
            if let Some(source) = self.name_of(
                &a.value,
                MetricsSource::NAMES,
                "metrics source",
                "source = app",
            ) {
                if let Some(s) = MetricsSource::parse(source.value) {
                    monitor.source = Spanned::new(s, source.span);
                }
            }
        }
        if let Some(a) = fields.get("min_requests") {
            if let Some(n) = self.int(
                &a.value,
                schema::MONITOR.must("min_requests"),
                1,
                1_000_000_000,
            ) {
                monitor.min_requests = n.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        if let Some(a) = fields.get("scrape_interval") {
            if let Some(d) = self.duration(&a.value, "scrape_interval = 15s") {
                if (1_000..=300_000).contains(&d.value) {
                    monitor.scrape_interval = d;
                } else {
                    self.report(
                        Diagnostic::new(Code::ValueOutOfRange, d.span, "a scrape interval must be between 1s and 5m")
                            .label("out of range")
                            .help("Prometheus's default is `15s`; short intervals suit tests, not production"),
                    );
                }
            }
        }
        if let Some(a) = fields.get("prometheus") {
            if let Some(url) = self.string(&a.value, schema::MONITOR.must("prometheus").example) {
                if self.prometheus_url(&url) {
                    monitor.prometheus = Some(url);
                }
            }
        }
        for (name, slot) in [
            ("stats_port", &mut monitor.stats_port),
            ("alertmanager_port", &mut monitor.alertmanager_port),
            ("webhook_port", &mut monitor.webhook_port),
        ] {
            if let Some(a) = fields.get(name) {
                if let Some(p) = self.int(&a.value, schema::MONITOR.must(name), 1, 65_535) {
                    *slot = p.map(|p| u16::try_from(p).unwrap_or(u16::MAX));
                }
            }
        }
        monitor
    }

    /// A success criterion looser than a rollback trigger on the same metric lets a stage pass
    /// while the trigger is rolling it back: `error_rate < 2%` to advance, `> 1%` to roll back.
    fn criteria_against_triggers(&mut self, schedule: &Schedule, triggers: &[Trigger]) {
        for stage in &schedule.stages {
            for criterion in &stage.criteria {
                match criterion {
                    Criterion::Compare {
                        metric,
                        quantile,
                        threshold,
                        ..
                    } => {
                        let Some(trigger) = triggers.iter().find(|t| {
                            // request_rate bounds may point either way; the others are validated
                            // as `criterion <` and `trigger >`.
                            t.metric.value == metric.value
                                && t.metric.value != Metric::RequestRate
                                && t.quantile == *quantile
                                && t.threshold.value.same_unit(threshold.value)
                        }) else {
                            continue;
                        };
                        if threshold.value.magnitude() > trigger.threshold.value.magnitude() {
                            let what = metric_name(metric.value, *quantile);
                            self.looser(
                                stage,
                                threshold.span,
                                trigger,
                                &what,
                                show(threshold.value),
                                show(trigger.threshold.value),
                            );
                        }
                    }
                    Criterion::WithinBaseline(tolerance) => {
                        let allowed = 1.0 + tolerance.value / 100.0;
                        for trigger in triggers
                            .iter()
                            .filter(|t| matches!(t.threshold.value, Threshold::RatioOfPy2(_)))
                        {
                            if allowed > trigger.threshold.value.magnitude()
                                && trigger.metric.value != Metric::RequestRate
                            {
                                let what = metric_name(trigger.metric.value, trigger.quantile);
                                self.looser(
                                    stage,
                                    tolerance.span,
                                    trigger,
                                    &what,
                                    format!(
                                        "within {}% ({}x)",
                                        fmt_number(tolerance.value),
                                        fmt_number(allowed)
                                    ),
                                    show(trigger.threshold.value),
                                );
                            }
                        }
                    }
                    Criterion::Approval(_) => {}
                }
            }
        }
    }

    fn looser(
        &mut self,
        stage: &Stage,
        at: Span,
        trigger: &Trigger,
        what: &str,
        criterion: String,
        limit: String,
    ) {
        self.report(
            Diagnostic::new(
                Code::CriterionLooserThanTrigger,
                at,
                format!("stage `{}` accepts {what} {criterion}, but the rollback fires above {limit}", stage.name.value),
            )
            .label("looser than the rollback trigger")
            .secondary(trigger.threshold.span, "rollback trigger")
            .help("the stage could pass while py3 is being rolled back: make the criterion at least as strict as the trigger"),
        );
    }

    /// A trigger whose window outlasts a stage's hold cannot fire before that stage is judged.
    fn windows_against_holds(&mut self, schedule: &Schedule, triggers: &[Trigger]) {
        let Some(shortest) = schedule.stages.iter().min_by_key(|s| s.hold.value) else {
            return;
        };
        for (trigger, window) in triggers
            .iter()
            .filter_map(|t| t.window.map(|w| (t, w)))
            // Sequential triggers ignore their window: CNR450 judges them by their evidence.
            .filter(|(t, w)| !t.metric.value.is_sequential() && w.value > shortest.hold.value)
        {
            self.report(
                Diagnostic::new(
                    Code::WindowLongerThanHold,
                    window.span,
                    format!(
                        "the {} trigger needs {} of bad data, but stage `{}` holds only {}",
                        metric_name(trigger.metric.value, trigger.quantile),
                        fmt_duration(window.value),
                        shortest.name.value,
                        fmt_duration(shortest.hold.value)
                    ),
                )
                .label("window longer than a stage")
                .secondary(shortest.hold.span, "shortest hold")
                .help("shorten the window or lengthen the stage, so a regression is caught before py3 gets more traffic"),
            );
        }
    }

    fn sticky_against_routers(&mut self, sticky: &Spanned<Sticky>, infra: &[Spanned<InfraTarget>]) {
        for target in infra {
            let Some(router) = target
                .router
                .or_else(|| target.kind.routers().first().copied())
            else {
                continue;
            };
            if router.supports_sticky(sticky.by) {
                continue;
            }
            let by = match sticky.by {
                StickyBy::Cookie => "cookie",
                StickyBy::Header => "header",
            };
            self.report(
                Diagnostic::new(
                    Code::StickyUnsupported,
                    sticky.span,
                    format!("{} cannot keep users on one interpreter by {by}", router.as_str()),
                )
                .label(format!("sticky by {by}"))
                .secondary(target.span, format!("routed by {}", router.as_str()))
                .help(format!(
                    "{} matches exact header values but cannot hash a header into a weighted split; use `sticky = cookie(\"py_version\")`",
                    router.as_str()
                )),
            );
        }
    }
}

fn show(threshold: Threshold) -> String {
    threshold.to_string()
}
