//! The plan's `compare { }` section: limits, thresholds, compared and ignored headers and
//! fields, and endpoints (path patterns with extra mirrored methods), for `canaryc compare`.

use super::Checker;
use super::entries::Entries;
use super::ports::{Taken, port_of as planned_port};
use super::schema::{self, BlockSpec, Ty};
use crate::compare::field::FieldPattern;
use crate::compare::route::RoutePattern;
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::model::{Compare, CompareEndpoint, HTTP_METHODS, NumberMatch};
use crate::source::Spanned;
use crate::syntax::ast::{Block, Value, ValueKind};

impl<'a> Checker<'a> {
    pub(crate) fn compare(&mut self, block: &'a Block) -> Compare {
        let spec = &schema::COMPARE;
        let fields = self.entries(&block.body, spec);
        let mut compare = Compare::default();
        let ints = [
            ("queue", &mut compare.queue, 1, 10_000_000),
            ("concurrency", &mut compare.concurrency, 1, 10_000),
            ("max_endpoints", &mut compare.max_endpoints, 1, 100_000),
        ];
        for (name, slot, min, max) in ints {
            if let Some(a) = fields.get(name) {
                if let Some(n) = self.int(&a.value, spec.must(name), min, max) {
                    *slot = n.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
        }
        if let Some(a) = fields.get("timeout") {
            if let Some(d) = self.duration(&a.value, spec.must("timeout").example) {
                if (1..=3_600_000).contains(&d.value) {
                    compare.timeout = d;
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            d.span,
                            "a mirror timeout must be between 1ms and 1h",
                        )
                        .label("out of range")
                        .help("a little above py2's slowest normal response, e.g. `timeout = 5s`"),
                    );
                }
            }
        }
        for (name, slot, min) in [
            ("max_body", &mut compare.max_body, 1u64 << 10),
            ("max_buffered", &mut compare.max_buffered, 1 << 20),
        ] {
            if let Some(a) = fields.get(name) {
                if let Some(size) = self.size(&a.value, spec.must(name)) {
                    if size.value >= min {
                        *slot = size;
                    } else {
                        self.report(
                            Diagnostic::new(
                                Code::ValueOutOfRange,
                                size.span,
                                format!("{name} is too small"),
                            )
                            .label(format!(
                                "at least {}",
                                if min == 1 << 10 { "1Ki" } else { "1Mi" }
                            ))
                            .help(format!("for example: `{}`", spec.must(name).example)),
                        );
                    }
                }
            }
        }
        if compare.max_buffered.value < compare.max_body.value {
            if let Some(a) = fields.get("max_buffered") {
                self.report(
                    Diagnostic::new(
                        Code::ValueOutOfRange,
                        a.value.span,
                        "max_buffered is smaller than max_body",
                    )
                    .label("cannot hold one body")
                    .secondary(compare.max_body.span, "largest body compared")
                    .help(
                        "max_buffered bounds every body held at once; make it many times max_body",
                    ),
                );
            }
        }
        for (name, slot) in [
            ("relative_threshold", &mut compare.relative_threshold),
            ("absolute_threshold", &mut compare.absolute_threshold),
        ] {
            if let Some(a) = fields.get(name) {
                if let Some(p) = self.percent(&a.value, spec.must(name)) {
                    *slot = p;
                }
            }
        }
        if let Some(a) = fields.get("sample") {
            if let Some(p) = self.percent(&a.value, spec.must("sample")) {
                if p.value > 0.0 {
                    compare.sample = p;
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            p.span,
                            "a comparator that samples 0% compares nothing",
                        )
                        .label("must be above 0%")
                        .help("remove the `compare { }` section to run no comparator, or sample a share, e.g. `sample = 10%`"),
                    );
                }
            }
        }
        if let Some(a) = fields.get("numbers") {
            if let Some(n) = self.name_of(
                &a.value,
                NumberMatch::NAMES,
                "number comparison",
                spec.must("numbers").example,
            ) {
                if let Some(m) = NumberMatch::parse(n.value) {
                    compare.numbers = Spanned::new(m, n.span);
                }
            }
        }
        compare.headers = fields
            .get("headers")
            .map(|a| self.header_list(&a.value, spec, "headers"));
        compare.ignore_headers = self.ignore_headers(&fields, spec);
        compare.ignore_fields = self.ignore_fields(&fields, spec);
        if let Some(compared) = &compare.headers {
            self.compared_and_ignored(compared, &compare.ignore_headers);
        }

        for endpoint in fields.blocks("endpoint") {
            if let Some(e) = self.compare_endpoint(endpoint, &compare.endpoints) {
                compare.endpoints.push(e);
            }
        }
        self.shadowed_endpoints(&compare.endpoints);
        compare
    }

    fn compare_endpoint(
        &mut self,
        block: &'a Block,
        seen: &[CompareEndpoint],
    ) -> Option<CompareEndpoint> {
        let spec = &schema::COMPARE_ENDPOINT;
        let fields = self.entries(&block.body, spec);
        let Some(name) = block.label.clone() else {
            self.report(
                Diagnostic::new(
                    Code::MissingField,
                    block.keyword.span,
                    "an endpoint needs a name",
                )
                .label("name missing")
                .help("write `endpoint orders { path = \"/orders/{id}\" }`"),
            );
            return None;
        };
        if let Some(first) = seen.iter().find(|e| e.name.value == name.value) {
            self.report(
                Diagnostic::new(
                    Code::DuplicateDefinition,
                    name.span,
                    format!("two endpoints are named `{}`", name.value),
                )
                .label("second endpoint")
                .secondary(first.name.span, "first one")
                .help("give each endpoint its own name"),
            );
            return None;
        }
        let Some(path_attr) = fields.get("path") else {
            self.report(
                Diagnostic::new(
                    Code::MissingField,
                    name.span,
                    format!("endpoint `{}` has no path", name.value),
                )
                .label("`path` missing")
                .help(format!("add `{}`", spec.must("path").example)),
            );
            return None;
        };
        let text = self.string(&path_attr.value, spec.must("path").example)?;
        let path = match RoutePattern::parse(&text.value) {
            Ok(p) => Spanned::new(p, text.span),
            Err(why) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidRoutePath,
                        text.span,
                        format!("`{}` is not an endpoint path", text.value),
                    )
                    .label(why)
                    .help("write a path such as `\"/orders/{id}\"`: literal segments, `{name}` for one segment, a final `*` for the rest"),
                );
                return None;
            }
        };
        let methods = fields
            .get("methods")
            .map(|a| self.methods(&a.value))
            .unwrap_or_default();
        Some(CompareEndpoint {
            name,
            path,
            methods,
            ignore_fields: self.ignore_fields(&fields, spec),
            ignore_headers: self.ignore_headers(&fields, spec),
        })
    }

    /// The items of a list value (a single value counts as a list of one).
    fn list_items<'v>(&self, value: &'v Value) -> Vec<&'v Value>
    where
        'a: 'v,
    {
        match &self.resolve(value).value {
            ValueKind::List(items) => items.iter().collect(),
            _ => vec![value],
        }
    }

    fn methods(&mut self, value: &Value) -> Vec<Spanned<String>> {
        let example = schema::COMPARE_ENDPOINT.must("methods").example;
        let mut out: Vec<Spanned<String>> = Vec::new();
        for item in self.list_items(value) {
            let name = match &self.resolve(item).value {
                ValueKind::Ident(n) | ValueKind::String(n) => n.clone(),
                _ => {
                    self.mismatch(item, Ty::MethodList, example);
                    continue;
                }
            };
            let upper = name.to_ascii_uppercase();
            if !HTTP_METHODS.contains(&upper.as_str()) {
                let help =
                    did_you_mean(&upper, HTTP_METHODS.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "the methods are {}",
                            super::entries::quote_list(HTTP_METHODS)
                        )
                    });
                self.report(
                    Diagnostic::new(
                        Code::UnknownHttpMethod,
                        item.span,
                        format!("`{name}` is not an HTTP method"),
                    )
                    .label("unknown method")
                    .help(help),
                );
                continue;
            }
            if let Some(first) = out.iter().find(|m| m.value == upper) {
                self.duplicate_item(item.span, first.span, &name);
                continue;
            }
            out.push(Spanned::new(upper, item.span));
        }
        out
    }

    fn header_list(
        &mut self,
        value: &Value,
        spec: &BlockSpec,
        field: &str,
    ) -> Vec<Spanned<String>> {
        let example = spec.must(field).example;
        let mut out: Vec<Spanned<String>> = Vec::new();
        for item in self.list_items(value) {
            let Some(name) = self.string(item, example) else {
                continue;
            };
            if !crate::compare::headers::is_valid_name(&name.value) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidHeaderName,
                        name.span,
                        format!("`{}` is not a header name", name.value),
                    )
                    .label("not an HTTP token")
                    .help("header names are letters, digits and `-`, without `:` or spaces, e.g. `\"X-Request-Id\"`"),
                );
                continue;
            }
            if let Some(first) = out
                .iter()
                .find(|h| h.value.eq_ignore_ascii_case(&name.value))
            {
                self.duplicate_item(name.span, first.span, &name.value);
                continue;
            }
            out.push(name);
        }
        out
    }

    fn ignore_headers(&mut self, fields: &Entries<'a>, spec: &BlockSpec) -> Vec<Spanned<String>> {
        fields
            .get("ignore_headers")
            .map(|a| self.header_list(&a.value, spec, "ignore_headers"))
            .unwrap_or_default()
    }

    fn ignore_fields(
        &mut self,
        fields: &Entries<'a>,
        spec: &BlockSpec,
    ) -> Vec<Spanned<FieldPattern>> {
        let Some(a) = fields.get("ignore_fields") else {
            return Vec::new();
        };
        let example = spec.must("ignore_fields").example;
        let mut out: Vec<Spanned<FieldPattern>> = Vec::new();
        for item in self.list_items(&a.value) {
            let Some(text) = self.string(item, example) else {
                continue;
            };
            match FieldPattern::parse(&text.value) {
                Ok(pattern) => {
                    if let Some(first) = out.iter().find(|p| p.value == pattern) {
                        self.duplicate_item(text.span, first.span, &text.value);
                        continue;
                    }
                    out.push(Spanned::new(pattern, text.span));
                }
                Err(why) => self.report(
                    Diagnostic::new(
                        Code::InvalidFieldPath,
                        text.span,
                        format!("`{}` is not a field path", text.value),
                    )
                    .label(why)
                    .help("write a JSON path from the body's root: `\"$.meta.generated_at\"`, `\"$.items[*].id\"`, `\"$..request_id\"` for any depth"),
                ),
            }
        }
        out
    }

    fn duplicate_item(&mut self, at: crate::source::Span, first: crate::source::Span, what: &str) {
        self.report(
            Diagnostic::new(
                Code::DuplicateField,
                at,
                format!("`{what}` is listed twice"),
            )
            .label("listed again")
            .secondary(first, "first here")
            .help("list it once"),
        );
    }

    /// A header both compared and ignored is not compared: say so rather than guess.
    fn compared_and_ignored(&mut self, compared: &[Spanned<String>], ignored: &[Spanned<String>]) {
        for header in ignored {
            if let Some(c) = compared
                .iter()
                .find(|c| c.value.eq_ignore_ascii_case(&header.value))
            {
                self.report(
                    Diagnostic::new(
                        Code::HeaderComparedAndIgnored,
                        header.span,
                        format!("`{}` is both compared and ignored", header.value),
                    )
                    .label("ignored here")
                    .secondary(c.span, "compared here")
                    .help("ignoring wins, so it is not compared: drop it from one of the lists"),
                );
            }
        }
    }

    /// Endpoints are tried in order; one whose paths an earlier one matches never applies.
    fn shadowed_endpoints(&mut self, endpoints: &[CompareEndpoint]) {
        for (i, later) in endpoints.iter().enumerate() {
            if let Some(earlier) = endpoints[..i]
                .iter()
                .find(|e| e.path.value.covers(&later.path.value))
            {
                self.report(
                    Diagnostic::new(
                        Code::EndpointShadowed,
                        later.path.span,
                        format!(
                            "endpoint `{}` never applies: `{}` matches every path it does",
                            later.name.value,
                            earlier.path.value.as_str()
                        ),
                    )
                    .label("never matched")
                    .secondary(earlier.path.span, format!("`{}` is tried first", earlier.name.value))
                    .help("the first endpoint whose path matches applies: list the more specific one first"),
                );
            }
        }
    }
}

impl Checker<'_> {
    /// CNR427: the ports the build gives the comparator (src/ir/compare.rs, `host_ports`) must
    /// not be ports something else of the bundle listens on, or one of the two fails to start,
    /// or the load balancer sends a copy's share to the wrong process.
    pub(crate) fn comparator_ports(&mut self, plan: &crate::model::Plan) {
        use crate::ir::compare::{ADMIN_PORT, host_ports};
        use crate::model::{Engine, InfraKind, Router};
        if plan.compare.is_none() {
            return;
        }
        let monitor = &plan.monitor;
        for target in &plan.infra {
            let t = &target.value;
            let host = match t.kind {
                InfraKind::BareMetal => true,
                InfraKind::DockerCompose => false,
                InfraKind::Kubernetes => {
                    // Only Istio with no engine runs one (CNR426 otherwise): in the pod, the
                    // proxy listens on the service's port and the admin listener on 9464.
                    let places = t.router.is_none_or(|r| r == Router::Istio)
                        && t.engine.is_none_or(|e| e == Engine::None);
                    if places {
                        for s in &plan.services {
                            let (port, span) = planned_port(s);
                            if port == ADMIN_PORT {
                                self.port_collision(
                                    span,
                                    format!("the comparator of `{}` listens on the service's port {port}, which is also its admin port", s.name.value),
                                    None,
                                    "in the comparator's pod, the proxy takes the service's port and /metrics takes 9464",
                                );
                            }
                        }
                    }
                    continue;
                }
                InfraKind::Auto => continue,
            };
            // What listens on the machine (bare metal) or is published on it (Compose).
            let mut taken: Vec<Taken> = Vec::new();
            let mut push = |port: u16, what: String, span| taken.push(Taken { port, what, span });
            for s in &plan.services {
                let (port, span) = planned_port(s);
                let name = &s.name.value;
                push(port, format!("the port of `{name}`"), span);
                if host {
                    push(
                        port.saturating_add(1),
                        format!("py2's port of `{name}`"),
                        span,
                    );
                    push(
                        port.saturating_add(2),
                        format!("py3's port of `{name}`"),
                        span,
                    );
                }
            }
            if t.router != Some(Router::Nginx) || !host {
                push(
                    monitor.stats_port.value,
                    "HAProxy's stats and exporter port (`stats_port`)".into(),
                    monitor.stats_port.span,
                );
            }
            if host {
                push(
                    monitor.alertmanager_port.value,
                    "Alertmanager's port (`alertmanager_port`)".into(),
                    monitor.alertmanager_port.span,
                );
                push(
                    monitor.webhook_port.value,
                    "the rollback webhook's port (`webhook_port`)".into(),
                    monitor.webhook_port.span,
                );
            }
            if monitor.prometheus.is_none() {
                push(
                    9090,
                    "Prometheus's port".into(),
                    crate::source::Span::default(),
                );
            }
            let place = if host {
                "on the host"
            } else {
                "published on the Compose host"
            };
            // Every comparator's own ports, by service, to check each against the others'.
            let mut comparators: Vec<(usize, Taken)> = Vec::new();
            for (index, s) in plan.services.iter().enumerate() {
                let (port, span) = planned_port(s);
                let ports = host_ports(port, index);
                let name = &s.name.value;
                if host {
                    comparators.push((
                        index,
                        Taken {
                            port: ports.proxy,
                            what: format!("the comparator of `{name}`"),
                            span,
                        },
                    ));
                    comparators.push((
                        index,
                        Taken {
                            port: ports.secondary,
                            what: format!("the second py2 copy of `{name}`"),
                            span,
                        },
                    ));
                }
                comparators.push((
                    index,
                    Taken {
                        port: ports.admin,
                        what: format!("the admin port of `{name}`'s comparator"),
                        span,
                    },
                ));
            }
            for (index, s) in plan.services.iter().enumerate() {
                let (port, span) = planned_port(s);
                let ports = host_ports(port, index);
                let mut own: Vec<(u16, &str)> =
                    vec![(ports.admin, "admin port (/metrics, /report)")];
                if host {
                    own.push((ports.proxy, "proxy port"));
                    own.push((ports.secondary, "second py2 copy's port"));
                }
                let others = comparators
                    .iter()
                    .filter(|(i, _)| *i != index)
                    .map(|(_, t)| t);
                let against: Vec<&Taken> = taken.iter().chain(others).collect();
                for (mine, role) in own {
                    if let Some(clash) = against.iter().find(|t| t.port == mine) {
                        let message = format!(
                            "the comparator of `{}` would take port {mine} {place} (its {role}), which is {}",
                            s.name.value, clash.what
                        );
                        let secondary = (clash.span != span && clash.span != Default::default())
                            .then_some(clash.span);
                        self.port_collision(span, message, secondary, "the build derives the comparator's ports from the service's: port + 3 for its proxy, + 4 for the second py2 copy, and 9464 plus the service's position for /metrics");
                        break;
                    }
                }
            }
        }
    }

    fn port_collision(
        &mut self,
        span: crate::source::Span,
        message: String,
        other: Option<crate::source::Span>,
        note: &str,
    ) {
        let mut d = Diagnostic::new(Code::ComparatorPortCollision, span, message)
            .label("the comparator's port comes from here")
            .help("move the service's port, or the monitor port it meets (`monitor { stats_port = ... }`), so that every port of the bundle is different")
            .note(note);
        if let Some(other) = other {
            d = d.secondary(other, "also here");
        }
        self.report(d);
    }
}
