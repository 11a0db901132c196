//! Stable diagnostic codes.
//!
//! A code never changes meaning once released: CI scripts grep for them and `canaryc explain`
//! documents them. Each code's long explanation lives in `docs/errors/<CODE>.md`, embedded here;
//! a test compiles the failing example in every page and checks it reports that very code.

use super::Severity;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $severity:ident, $slug:literal; )*) => {
        /// A stable diagnostic code such as `CNR301`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The default severity; a few call sites may lower or raise it.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// A short kebab-case name, shown in `canaryc explain --list`.
            pub fn slug(self) -> &'static str {
                match self { $(Code::$variant => $slug,)* }
            }

            /// The long explanation: Markdown with a minimal failing example.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../docs/errors/", $code, ".md")),)*
                }
            }
        }
    };
}

codes! {
    /// The text does not follow the grammar.
    Syntax = "CNR001", Error, "syntax-error";
    /// A literal that parses but means nothing: 2026-02-30, an unknown escape, `p0`.
    InvalidLiteral = "CNR002", Error, "invalid-literal";
    /// The file's bytes are not UTF-8 (a plan saved as Latin-1, say); it is not checked further.
    NotUtf8 = "CNR003", Error, "not-utf8";
    /// The plan's `codebase` is the file system's root: canaryc refuses to read the whole disk.
    CodebaseIsRoot = "CNR010", Error, "codebase-is-root";

    UnknownField = "CNR101", Error, "unknown-field";
    DuplicateField = "CNR102", Error, "duplicate-field";
    MissingField = "CNR103", Error, "missing-field";
    UnknownModule = "CNR104", Error, "unknown-module";
    UnknownName = "CNR105", Error, "unknown-name";
    DuplicateDefinition = "CNR106", Error, "duplicate-definition";
    UnknownStage = "CNR107", Error, "unknown-stage";
    UnusedImport = "CNR108", Warning, "unused-import";
    InvalidName = "CNR109", Error, "invalid-name";

    TypeMismatch = "CNR201", Error, "type-mismatch";
    PercentOutOfRange = "CNR202", Error, "percent-out-of-range";
    UnknownVariant = "CNR203", Error, "unknown-variant";
    ValueOutOfRange = "CNR204", Error, "value-out-of-range";
    InvalidPythonVersion = "CNR205", Error, "invalid-python-version";
    InvalidHealthPath = "CNR206", Error, "invalid-health-path";
    /// A newline, NUL or other control character in a string that becomes part of a line.
    ControlCharacter = "CNR207", Error, "control-character";
    InvalidImage = "CNR208", Error, "invalid-image";
    InvalidCommand = "CNR209", Error, "invalid-command";
    InvalidEnvName = "CNR210", Error, "invalid-env-name";
    /// A sticky header name the routers that split by header cannot read.
    StickyNameUnreadable = "CNR211", Error, "sticky-name-unreadable";
    LiteralCredential = "CNR212", Warning, "literal-credential";

    TrafficNotIncreasing = "CNR301", Error, "traffic-not-increasing";
    FinalStageNotFull = "CNR302", Error, "final-stage-not-full";
    DuplicateStage = "CNR303", Error, "duplicate-stage";
    ZeroHold = "CNR304", Error, "zero-hold";
    EmptySchedule = "CNR305", Error, "empty-schedule";
    LargeFirstStep = "CNR306", Warning, "large-first-step";

    UnknownMetric = "CNR401", Error, "unknown-metric";
    CriterionLooserThanTrigger = "CNR402", Warning, "criterion-looser-than-trigger";
    InvertedCondition = "CNR403", Error, "inverted-condition";
    MissingWindow = "CNR404", Error, "missing-window";
    UnexpectedWindow = "CNR405", Warning, "unexpected-window";
    QuantileMisuse = "CNR406", Error, "quantile-misuse";
    NoTriggers = "CNR407", Error, "no-triggers";
    DuplicateTrigger = "CNR408", Warning, "duplicate-trigger";
    WindowLongerThanHold = "CNR409", Warning, "window-longer-than-hold";
    BaselineAtFullTraffic = "CNR410", Warning, "baseline-at-full-traffic";

    /// The `compare { }` section (CNR420-CNR439).
    InvalidRoutePath = "CNR420", Error, "invalid-route-path";
    UnknownHttpMethod = "CNR421", Error, "unknown-http-method";
    InvalidFieldPath = "CNR422", Error, "invalid-field-path";
    InvalidHeaderName = "CNR423", Error, "invalid-header-name";
    EndpointShadowed = "CNR424", Warning, "endpoint-shadowed";
    HeaderComparedAndIgnored = "CNR425", Warning, "header-compared-and-ignored";
    /// A target of a plan with a `compare` section that cannot run the comparator.
    ComparatorNotWired = "CNR426", Warning, "comparator-not-wired";
    /// A port of the comparator is also a port of a service, a copy or the bundle's monitoring.
    ComparatorPortCollision = "CNR427", Error, "comparator-port-collision";

    /// At the plan's `traffic`, a stage cannot catch its own rollback threshold within its hold.
    UndetectableInHold = "CNR450", Warning, "undetectable-in-hold";
    /// At the plan's `traffic`, a stage cannot show its success criterion within its hold.
    UnprovableInHold = "CNR451", Warning, "unprovable-in-hold";
    /// An absolute latency threshold falls between the histogram's buckets.
    LatencyBetweenBuckets = "CNR452", Warning, "latency-between-buckets";
    /// An error-rate trigger smaller than the thresholds' calibration covers.
    ThresholdBelowCalibration = "CNR453", Warning, "threshold-below-calibration";
    /// A `for` window on an error-rate or latency trigger, which is a sequential test.
    WindowOnSequentialTrigger = "CNR454", Warning, "window-on-sequential-trigger";

    /// A route of the team's VirtualService splits between the service and another service.
    SharedIstioRoute = "CNR455", Warning, "shared-istio-route";
    /// Flagger writes its own VirtualService; the team's routes to the service are not split.
    FlaggerTeamVirtualService = "CNR456", Warning, "flagger-team-virtual-service";
    /// Files of the codebase define the VirtualService canaryc takes over in alternatives.
    AlternativeVirtualServices = "CNR457", Warning, "alternative-virtual-services";
    /// A `scrape_interval` shorter than the calibration's at which the sequential tests' false
    /// rollbacks have not been measured.
    ScrapeIntervalUncalibrated = "CNR458", Warning, "scrape-interval-uncalibrated";
    /// A team DestinationRule for the service has a subset named like one of canaryc's.
    IstioSubsetClash = "CNR459", Error, "istio-subset-clash";

    PythonEndOfLife = "CNR501", Warning, "python-end-of-life";
    PythonEndOfLifeSoon = "CNR502", Warning, "python-end-of-life-soon";
    StickyUnsupported = "CNR503", Error, "sticky-unsupported";
    RouterInfraMismatch = "CNR504", Error, "router-infra-mismatch";
    RouterRetired = "CNR505", Warning, "router-retired";
    UnknownLifecycle = "CNR506", Warning, "unknown-lifecycle";
    EngineInfraMismatch = "CNR510", Error, "engine-infra-mismatch";
    EngineRouterMismatch = "CNR511", Error, "engine-router-mismatch";
    FlaggerOneInterval = "CNR512", Warning, "flagger-one-interval";
    DivergenceWithoutProducer = "CNR513", Warning, "divergence-without-producer";
    EngineNotSticky = "CNR514", Warning, "engine-not-sticky";
    WeightNotExpressible = "CNR515", Warning, "weight-not-expressible";
    InvalidPrometheusUrl = "CNR516", Error, "invalid-prometheus-url";
    MetricsSourcePerTarget = "CNR517", Error, "metrics-source-per-target";
    /// The metrics source reads a service's own metrics (latency behind HAProxy), and its code
    /// shows no metrics library.
    AppMetricsNotExported = "CNR518", Warning, "app-metrics-not-exported";
    /// Two parts of a Compose or bare-metal bundle would listen on one port of one host.
    PortCollision = "CNR519", Error, "port-collision";

    InfraFallback = "CNR601", Warning, "infra-fallback";
    DetectedConflict = "CNR602", Warning, "detected-conflict";
    CodebaseFileUnreadable = "CNR603", Warning, "codebase-file-unreadable";
    UnmitigatedHazard = "CNR604", Warning, "unmitigated-hazard";
    CodebaseMissing = "CNR605", Warning, "codebase-missing";
    /// A value read from the codebase is not what its field holds (a port that is not a port,
    /// a health path with a newline): it was dropped.
    DetectedValueRejected = "CNR606", Warning, "detected-value-rejected";
    /// A literal credential in a deployment file (by name or by shape).
    DetectedCredential = "CNR607", Warning, "detected-credential";
    /// A plan service that no detected workload is named like.
    ServiceNotDetected = "CNR608", Warning, "service-not-detected";
    /// A plan service named like a worker or a shared service, not a Python web workload.
    ServiceNotPythonWeb = "CNR609", Warning, "service-not-python-web";
    /// `infra = auto` planned one infrastructure; the codebase deploys on others too.
    InfraAlternatives = "CNR610", Warning, "infra-alternatives";
    /// A one-service plan, and several Python web workloads it could be.
    ServiceAmbiguous = "CNR611", Warning, "service-ambiguous";
    /// Planned for bare metal from a Procfile that runs on a buildpack platform (Heroku).
    BuildpackPlatform = "CNR612", Warning, "buildpack-platform";

    MissingForTarget = "CNR701", Error, "missing-for-target";
    AssumedDefault = "CNR702", Warning, "assumed-default";
}

impl Code {
    /// Looks a code up by its text, case-insensitively (`cnr301` works).
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text) || c.slug() == text)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
