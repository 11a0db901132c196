//! What may appear where: the fields, nested blocks and conditions of each block kind, with the
//! one-line documentation that diagnostics, `docs/language.md` and (later) editor hovers share.

/// The kind of value a field takes, named the way diagnostics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Percent,
    Duration,
    Int,
    Number,
    String,
    Date,
    Size,
    /// `40/s`: requests per second (or per minute, hour).
    Rate,
    /// `2.7 -> 3.11`
    PythonPair,
    /// `kubernetes(router: istio)`, `auto`, or a list of them.
    Infra,
    /// `cookie("name")`, `header("name")` or `none`.
    Sticky,
    /// One of a fixed set of names.
    Enum(&'static [&'static str]),
    /// The name of a schedule, optionally followed by an override block.
    ScheduleRef,
    /// The name of a rollback trigger set, optionally followed by an override block.
    RollbackRef,
    /// `["X-Request-Id", "Date"]`
    StringList,
    /// `[POST, PUT]`
    MethodList,
}

impl Ty {
    /// "a percentage", as in "expected a percentage, found a duration".
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Percent => "a percentage",
            Ty::Duration => "a duration",
            Ty::Int => "a whole number",
            Ty::Number => "a number",
            Ty::String => "a string",
            Ty::Date => "a date",
            Ty::Size => "a size",
            Ty::Rate => "a rate",
            Ty::PythonPair => "a version pair",
            Ty::Infra => "an infrastructure target",
            Ty::Sticky => "a stickiness rule",
            Ty::Enum(_) => "a name",
            Ty::ScheduleRef => "a schedule name",
            Ty::RollbackRef => "a rollback set name",
            Ty::StringList => "a list of strings",
            Ty::MethodList => "a list of HTTP methods",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// Qualifiers the field must carry (`image py3 = ...`); empty for none.
    pub qualifiers: &'static [&'static str],
    pub doc: &'static str,
    /// A correct line, quoted in help text.
    pub example: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct BlockSpec {
    pub keyword: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
    /// Keywords of blocks allowed inside.
    pub blocks: &'static [&'static str],
    /// Whether the body holds conditions (rollback triggers or success criteria).
    pub conditions: bool,
}

impl BlockSpec {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A field this spec is known to have (the name is a literal at every call site).
    pub fn must(&self, name: &str) -> &'static Field {
        self.field(name).unwrap_or(&UNKNOWN)
    }

    /// Every name that may start an entry here, for "did you mean".
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.fields
            .iter()
            .map(|f| f.name)
            .chain(self.blocks.iter().copied())
    }
}

const fn field(name: &'static str, ty: Ty, doc: &'static str, example: &'static str) -> Field {
    Field {
        name,
        ty,
        qualifiers: &[],
        doc,
        example,
    }
}

/// Stands in for a field looked up by a misspelt literal; never reached in a tested build.
const UNKNOWN: Field = field("value", Ty::String, "", "");

const PY_VERSIONS: &[&str] = &["py2", "py3"];

const DESCRIPTION: Field = field(
    "description",
    Ty::String,
    "Free text shown in the runbooks.",
    "description = \"why this exists\"",
);

const TRAFFIC: Field = field(
    "traffic",
    Ty::Rate,
    "Requests per second each service expects (`40/s`, `600/m`). With it, `canaryc check` and the runbook say how long each stage takes to catch a regression, and warn where a stage cannot.",
    "traffic = 40/s",
);

const PY2_ERROR_RATE: Field = field(
    "py2_error_rate",
    Ty::Percent,
    "py2's usual share of 5xx responses, for the time-to-detect preview (0.1% if unset). The rules themselves measure it.",
    "py2_error_rate = 0.1%",
);

pub const TOP_LEVEL: &[&str] = &["plan", "schedule", "rollback"];

pub const PLAN: BlockSpec = BlockSpec {
    keyword: "plan",
    doc: "A rollout plan: which service moves from which Python to which, on what infrastructure, on what schedule, and when to roll back. One per file.",
    fields: &[
        DESCRIPTION,
        field(
            "namespace",
            Ty::String,
            "Kubernetes namespace (or name prefix elsewhere) of the generated objects.",
            "namespace = \"payments\"",
        ),
        field(
            "codebase",
            Ty::String,
            "Path of the service's code, relative to the plan file; detection reads it.",
            "codebase = \".\"",
        ),
        field(
            "python",
            Ty::PythonPair,
            "The interpreter the service runs on today and the one it moves to.",
            "python = 2.7 -> 3.13",
        ),
        field(
            "infra",
            Ty::Infra,
            "Where it runs: auto (detect), kubernetes, docker-compose or bare-metal, optionally with a router and an engine (argo-rollouts, flagger, canaryc or none); a list for several.",
            "infra = kubernetes(router: istio, engine: argo-rollouts)",
        ),
        field(
            "start",
            Ty::Date,
            "The day the rollout starts. Calendar dates in outputs come from it; without it they are days relative to the start.",
            "start = 2027-01-11",
        ),
        field(
            "schedule",
            Ty::ScheduleRef,
            "The schedule to follow: a name, optionally with stage overrides. Defaults to std.schedules.standard.",
            "schedule = standard { stage canary-25pct { hold = 96h } }",
        ),
        field(
            "rollback",
            Ty::RollbackRef,
            "Named rollback triggers, optionally with overrides. Defaults to std.rollback.defaults.",
            "rollback = defaults { error_rate > 2% }",
        ),
        TRAFFIC,
        PY2_ERROR_RATE,
    ],
    blocks: &[
        "service", "route", "rollback", "schedule", "monitor", "compare",
    ],
    conditions: false,
};

pub const SERVICE: BlockSpec = BlockSpec {
    keyword: "service",
    doc: "One service of the plan: how to run its py2 and py3 copies. Unlabelled, it is named after the plan; label several for a monorepo or fleet.",
    fields: &[
        DESCRIPTION,
        field(
            "port",
            Ty::Int,
            "The port the service listens on.",
            "port = 8000",
        ),
        field(
            "public_port",
            Ty::Int,
            "The port clients reach the service on through the load balancer (Compose: the host port canary-lb publishes; bare metal: the port HAProxy or nginx binds), when it is not `port`. Kubernetes keeps the Service's port.",
            "public_port = 8001",
        ),
        field(
            "health",
            Ty::String,
            "HTTP path of the health check.",
            "health = \"/healthz\"",
        ),
        field(
            "replicas",
            Ty::Int,
            "Instances of each copy at full traffic.",
            "replicas = 3",
        ),
        Field {
            name: "image",
            ty: Ty::String,
            qualifiers: PY_VERSIONS,
            doc: "Container image of the py2 or py3 copy.",
            example: "image py3 = \"registry.internal/ledger:3.13-41\"",
        },
        Field {
            name: "command",
            ty: Ty::String,
            qualifiers: PY_VERSIONS,
            doc: "Command line of the py2 or py3 copy (bare metal).",
            example: "command py3 = \"/srv/ledger/venv3/bin/gunicorn ledger.wsgi\"",
        },
        TRAFFIC,
        PY2_ERROR_RATE,
    ],
    blocks: &["resources", "env"],
    conditions: false,
};

pub const RESOURCES: BlockSpec = BlockSpec {
    keyword: "resources",
    doc: "CPU and memory limits for each copy. Set py3's from a load test: py3 objects differ in size from py2's.",
    fields: &[
        field(
            "cpu",
            Ty::Number,
            "CPU cores (0.5 is half a core).",
            "cpu = 0.5",
        ),
        field(
            "memory",
            Ty::Size,
            "Memory limit, e.g. 512Mi or 1Gi.",
            "memory = 512Mi",
        ),
    ],
    blocks: &[],
    conditions: false,
};

pub const ENV: BlockSpec = BlockSpec {
    keyword: "env",
    doc: "Extra environment variables: `env py3 { ... }` for the py3 copy only, `env { ... }` for both.",
    fields: &[],
    blocks: &[],
    conditions: false,
};

pub const ROUTE: BlockSpec = BlockSpec {
    keyword: "route",
    doc: "How requests are split between the copies.",
    fields: &[
        field(
            "sticky",
            Ty::Sticky,
            "Keep each user on one interpreter: by cookie or by header, or `none`. Needed when py2 and py3 cannot read each other's sessions.",
            "sticky = cookie(\"py_version\")",
        ),
        field(
            "bind",
            Ty::String,
            "The address the load balancer listens on (HAProxy, nginx); all interfaces without it.",
            "bind = \"127.0.0.1\"",
        ),
    ],
    blocks: &[],
    conditions: false,
};

pub const MONITOR: BlockSpec = BlockSpec {
    keyword: "monitor",
    doc: "Where the comparison metrics come from.",
    fields: &[
        field(
            "source",
            Ty::Enum(crate::model::MetricsSource::NAMES),
            "Metrics source: auto (follow the router), istio, nginx-ingress, haproxy, or app (the service's own /metrics).",
            "source = app",
        ),
        field(
            "min_requests",
            Ty::Int,
            "Compared responses needed before the divergence trigger can fire. (Error-rate and latency triggers are sequential tests and need no minimum: their evidence grows with the requests.)",
            "min_requests = 100",
        ),
        field(
            "scrape_interval",
            Ty::Duration,
            "How often Prometheus scrapes and evaluates the rules (15s by default); rates are taken over at least four of these.",
            "scrape_interval = 15s",
        ),
        field(
            "prometheus",
            Ty::String,
            "The Prometheus the engine queries for its analysis (Argo Rollouts, Flagger, `canaryc promote`); by default prometheus.monitoring.svc:9090 on Kubernetes, the stack's own on Compose, 127.0.0.1:9090 on a host.",
            "prometheus = \"http://prometheus.monitoring.svc:9090\"",
        ),
        field(
            "stats_port",
            Ty::Int,
            "HAProxy's stats page and Prometheus exporter (8404 by default).",
            "stats_port = 8404",
        ),
        field(
            "alertmanager_port",
            Ty::Int,
            "Where Alertmanager listens on the host (9093 by default).",
            "alertmanager_port = 9093",
        ),
        field(
            "webhook_port",
            Ty::Int,
            "Where the rollback webhook listens on the host (9000 by default).",
            "webhook_port = 9000",
        ),
    ],
    blocks: &[],
    conditions: false,
};

const IGNORE_FIELDS: Field = field(
    "ignore_fields",
    Ty::StringList,
    "JSON fields never compared: `$.meta.generated_at`, `$.items[*].id`, `$..trace_id` (any depth).",
    "ignore_fields = [\"$.generated_at\", \"$..request_id\"]",
);

const IGNORE_HEADERS: Field = field(
    "ignore_headers",
    Ty::StringList,
    "Response headers never compared.",
    "ignore_headers = [\"ETag\"]",
);

pub const COMPARE: BlockSpec = BlockSpec {
    keyword: "compare",
    doc: "How `canaryc compare` mirrors requests to a second py2 copy and to py3 and diffs their responses with py2's, Diffy-style: limits, thresholds, what to compare and what to ignore, and endpoints.",
    fields: &[
        field(
            "queue",
            Ty::Int,
            "Comparisons waiting for a worker (1000 by default); beyond this they are dropped, never delayed.",
            "queue = 1000",
        ),
        field(
            "concurrency",
            Ty::Int,
            "Mirrored request pairs in flight at once (16 by default).",
            "concurrency = 16",
        ),
        field(
            "timeout",
            Ty::Duration,
            "How long the second py2 copy and py3 may take to answer a mirrored request (5s by default).",
            "timeout = 5s",
        ),
        field(
            "max_body",
            Ty::Size,
            "The largest body compared (1Mi by default); larger responses are passed through and not compared.",
            "max_body = 1Mi",
        ),
        field(
            "max_buffered",
            Ty::Size,
            "Bodies held by comparisons waiting in the queue (64Mi by default): the bound on the queue's memory.",
            "max_buffered = 64Mi",
        ),
        field(
            "max_endpoints",
            Ty::Int,
            "Endpoints tracked separately (200 by default); the rest are counted as `other`.",
            "max_endpoints = 200",
        ),
        field(
            "sample",
            Ty::Percent,
            "The share of safe requests compared (100% by default): Istio's mirrorPercentage, and the comparator's own sampling in front of py2. Lower it when py3's and the second py2 copy's extra load matters more than detection speed.",
            "sample = 10%",
        ),
        field(
            "relative_threshold",
            Ty::Percent,
            "Diffy's relative threshold (20% by default): how much more often py3 must differ from py2 than py2 differs from itself.",
            "relative_threshold = 20%",
        ),
        field(
            "absolute_threshold",
            Ty::Percent,
            "Diffy's absolute threshold (0.03% by default): the share of an endpoint's requests the extra differences must reach.",
            "absolute_threshold = 0.03%",
        ),
        field(
            "numbers",
            Ty::Enum(crate::model::NumberMatch::NAMES),
            "Whether JSON `3` and `3.0` are the same number: `strict` (the default, py2's round() returns floats) or `by-value`.",
            "numbers = strict",
        ),
        field(
            "headers",
            Ty::StringList,
            "Response headers compared; by default Content-Type, Content-Encoding, Content-Language, Content-Disposition, Location, Cache-Control and Vary.",
            "headers = [\"Content-Type\", \"Location\"]",
        ),
        IGNORE_HEADERS,
        IGNORE_FIELDS,
    ],
    blocks: &["endpoint"],
    conditions: false,
};

pub const COMPARE_ENDPOINT: BlockSpec = BlockSpec {
    keyword: "endpoint",
    doc: "Requests whose path matches, grouped under the path as written: methods mirrored on top of GET, HEAD and OPTIONS, and ignore rules of their own. The first endpoint that matches applies.",
    fields: &[
        field(
            "path",
            Ty::String,
            "The path: literal segments, `{name}` for one segment, a final `*` for the rest.",
            "path = \"/orders/{id}\"",
        ),
        field(
            "methods",
            Ty::MethodList,
            "Methods mirrored besides GET, HEAD and OPTIONS. Mirrored writes run three times: on py2, the second py2 copy and py3.",
            "methods = [POST]",
        ),
        IGNORE_HEADERS,
        IGNORE_FIELDS,
    ],
    blocks: &[],
    conditions: false,
};

pub const SCHEDULE: BlockSpec = BlockSpec {
    keyword: "schedule",
    doc: "An ordered list of stages, each a larger share of traffic for py3.",
    fields: &[DESCRIPTION],
    blocks: &["stage"],
    conditions: false,
};

pub const STAGE: BlockSpec = BlockSpec {
    keyword: "stage",
    doc: "One step of the rollout: py3's share of traffic, how long to hold it, and what must be true to move on.",
    fields: &[
        DESCRIPTION,
        field(
            "traffic",
            Ty::Percent,
            "py3's share of requests during this stage.",
            "traffic = 5%",
        ),
        field(
            "hold",
            Ty::Duration,
            "How long to stay at this stage before judging it.",
            "hold = 48h",
        ),
    ],
    blocks: &["success"],
    conditions: false,
};

pub const SUCCESS: BlockSpec = BlockSpec {
    keyword: "success",
    doc: "What must hold, over the stage's whole hold, to move on: metric bounds, `all metrics within N% of baseline`, `approval \"...\"`.",
    fields: &[],
    blocks: &[],
    conditions: true,
};

pub const ROLLBACK: BlockSpec = BlockSpec {
    keyword: "rollback",
    doc: "Conditions that send all traffic back to py2 automatically: `error_rate > 1%` (a sequential test: py3 at least 1 point above py2), `memory > 90% for 10m` (a window for the others).",
    fields: &[],
    blocks: &[],
    conditions: true,
};

/// The metrics conditions may name, with what their threshold means.
pub struct MetricSpec {
    pub name: &'static str,
    pub doc: &'static str,
    /// Threshold kinds accepted, as the diagnostics name them.
    pub accepts: &'static str,
}

pub const METRICS: &[MetricSpec] = &[
    MetricSpec {
        name: "error_rate",
        doc: "Share of py3 responses that are server errors (5xx). `1%` means 1 point above py2's rate, `absolute(1%)` means 1% whatever py2 does, `2x py2` twice py2's.",
        accepts: "a percentage (`1%`), `absolute(1%)` or a ratio of py2 (`2x py2`)",
    },
    MetricSpec {
        name: "latency",
        doc: "Response time at a quantile (`latency p99`), as a multiple of py2's or absolute; tested as the share of py3's requests slower than a histogram bucket.",
        accepts: "a ratio of py2 (`2x py2`) or a duration (`500ms`)",
    },
    MetricSpec {
        name: "health_failures",
        doc: "Failed health checks of py3 instances.",
        accepts: "a count (`0`)",
    },
    MetricSpec {
        name: "memory",
        doc: "py3 memory use as a share of its limit.",
        accepts: "a percentage (`90%`)",
    },
    MetricSpec {
        name: "cpu",
        doc: "py3 CPU use as a share of its limit.",
        accepts: "a percentage (`90%`)",
    },
    MetricSpec {
        name: "divergence",
        doc: "Share of compared responses where py3's differs from py2's.",
        accepts: "a percentage (`1%`)",
    },
    MetricSpec {
        name: "request_rate",
        doc: "Requests per second py3 serves, or a multiple of py2's.",
        accepts: "a count or a ratio of py2",
    },
];

pub fn metric(name: &str) -> Option<&'static MetricSpec> {
    METRICS.iter().find(|m| m.name == name)
}
