//! The cutover, step by step, for one target: the engine's steps on Kubernetes, or the plain
//! files' (deploy the copies, start the split), Compose's or bare metal's; then each stage with
//! the router backend's own commands (`emit::split_commands`).

use std::fmt::Write as _;

use super::doc::Doc;
use super::{engine_docs, host, hours, md};
use crate::emit::escape::shell;
use crate::ir::{Engine, InfraKind, Interpreter, Ir, Router, Target, fmt};

/// Numbers the steps: `N. title`, and the commands in a code block under it.
#[derive(Default)]
struct Steps {
    n: usize,
}

impl Steps {
    fn add(&mut self, o: &mut Doc, title: &str, commands: &[String]) {
        self.n += 1;
        o.line(format!("{}. {title}", self.n));
        if !commands.is_empty() {
            o.blank().code_block("   ", "sh", commands);
        }
        o.blank();
    }
}

/// The numbered cutover steps of one target.
pub(super) fn cutover(o: &mut Doc, ir: &Ir, t: Target) {
    let mut steps = Steps::default();
    let mut step = |o: &mut Doc, title: &str, commands: &[String]| steps.add(o, title, commands);
    let py3_images: Vec<String> = ir
        .services
        .iter()
        .filter_map(|s| s.image_py3.as_deref().map(|i| md::text(i).into_owned()))
        .collect();
    if let Some(engine_steps) = engine_docs::kubernetes_steps(ir, t) {
        check_images(o, &mut step, &py3_images);
        for (title, commands) in engine_steps {
            step(o, &title, &commands);
        }
        step(
            o,
            "After the last stage passes, py3 is the stable ReplicaSet or primary: remove the plain routing you no longer need, and keep the engine's objects for the next release.",
            &[],
        );
        return;
    }
    match t.infra {
        InfraKind::Kubernetes => kubernetes(o, ir, t, &mut step, &py3_images),
        InfraKind::DockerCompose => compose(o, &mut step),
        InfraKind::BareMetal => bare_metal(o, ir, t, &mut step),
    }
    for (title, commands) in engine_docs::loop_steps(ir, t) {
        step(o, &title, &commands);
    }
    let automatic = t.engine == Engine::Canaryc;
    for st in &ir.stages {
        let mut title = format!(
            "Stage {}: py3 at {}% for {}.",
            md::code(&st.name),
            fmt(st.traffic),
            hours(st.hold_hours)
        );
        if !st.criteria.is_empty() {
            let _ = write!(title, " Move on when {}.", st.criteria.join(" and "));
        }
        if let Some(a) = &st.approval {
            let _ = write!(title, " Needs {}.", md::text(a));
        }
        if automatic {
            title.push_str(" `canaryc promote` sets this split by itself; by hand:");
        }
        step(o, &title, &crate::emit::split_commands(ir, &t, st));
    }
    step(
        o,
        "After the last stage passes, retire py2: remove its Deployment or unit, and the canary routing, keeping py3 as the service.",
        &[],
    );
}

fn kubernetes(
    o: &mut Doc,
    ir: &Ir,
    t: Target,
    step: &mut impl FnMut(&mut Doc, &str, &[String]),
    py3_images: &[String],
) {
    let ns = &ir.namespace;
    check_images(o, step, py3_images);
    step(
        o,
        "Deploy the py2 copy (a clone of today's Deployment, labelled `version: py2`) and wait for it:",
        &[
            "kubectl apply -f k8s-deployment-py2.yaml".into(),
            format!(
                "kubectl -n {ns} rollout status deployment/{} --timeout=10m",
                ir.services[0].object(Interpreter::Py2)
            ),
        ],
    );
    let originals: Vec<String> = ir
        .services
        .iter()
        .map(|s| format!("kubectl -n {ns} scale deployment/{} --replicas=0", s.name))
        .collect();
    step(
        o,
        "Deploy the py3 copy, still without traffic:",
        &[
            "kubectl apply -f k8s-deployment-py3.yaml".into(),
            format!(
                "kubectl -n {ns} rollout status deployment/{} --timeout=10m",
                ir.services[0].object(Interpreter::Py3)
            ),
        ],
    );
    let router_file = match t.router {
        Router::Istio => "k8s-virtual-service.yaml",
        Router::NginxIngress => "k8s-ingress.yaml",
        _ => "k8s-httproute.yaml",
    };
    step(
        o,
        &format!(
            "Load the alerts into Prometheus, then start the split at the first stage ({} to py3){}",
            ir.stages
                .first()
                .map(|s| format!("{}%", fmt(s.traffic)))
                .unwrap_or_default(),
            super::step_end(&match t.router {
                Router::Istio => super::istio_takeover(ir),
                _ => String::new(),
            })
        ),
        &[
            "promtool check rules prometheus-alerts.yaml".into(),
            format!("kubectl apply -f {router_file}"),
        ],
    );
    step(
        o,
        "Once the split serves traffic, retire the original Deployment's pods (its Service now routes to the copies):",
        &originals,
    );
}

fn compose(o: &mut Doc, step: &mut impl FnMut(&mut Doc, &str, &[String])) {
    step(
        o,
        "Start the canary stack (py2, py3 and the load balancer) next to the current one, then move clients to canary-lb's port:",
        &[
            "docker compose -f docker-compose-canary.yml config -q".into(),
            "docker compose -f docker-compose-canary.yml up -d".into(),
            "docker compose -f docker-compose-canary.yml ps".into(),
        ],
    );
}

fn bare_metal(o: &mut Doc, ir: &Ir, t: Target, step: &mut impl FnMut(&mut Doc, &str, &[String])) {
    let dir = &ir.host.install_dir;
    let mut cmds = Vec::new();
    for s in &ir.services {
        let venv = s
            .command_py3
            .as_deref()
            .and_then(|c| crate::check::strings::split_words(c).ok())
            .and_then(|words| words.into_iter().next())
            .and_then(|p| p.rsplit_once("/bin/").map(|(v, _)| v.to_string()))
            .unwrap_or_else(|| format!("{}/venv3", s.workdir));
        // Both paths come from the plan or the codebase: quoted, so pasting the line runs
        // only python and pip.
        cmds.push(format!(
            "python{} -m venv {} && {} install -r {}",
            ir.python_to,
            shell::word(&venv),
            shell::word(&format!("{venv}/bin/pip")),
            shell::word(&format!("{}/requirements.txt", s.workdir))
        ));
    }
    step(
        o,
        "Build the py3 virtualenv next to the py2 one, from the py3 branch's requirements:",
        &cmds,
    );
    let mut install = vec![format!("sudo install -d {dir}")];
    for s in &ir.services {
        for copy in [Interpreter::Py2, Interpreter::Py3] {
            install.push(format!(
                "sudo install -m 0644 {} /etc/systemd/system/{}",
                s.unit_files.get(copy),
                s.units.get(copy)
            ));
        }
    }
    install.push("sudo systemctl daemon-reload".into());
    for s in &ir.services {
        install.push(format!(
            "sudo systemctl enable --now {} {}",
            s.units.py2, s.units.py3
        ));
    }
    step(
        o,
        "Install and start both copies; py2 moves to its own port, which HAProxy fronts:",
        &install,
    );
    if t.router == Router::Haproxy {
        step(
            o,
            "Install HAProxy and the rollback automation. A copy of the host's HAProxy configuration is kept as haproxy.cfg.pre-canary: if it serves other sites, merge their frontends into haproxy-canary.cfg first.",
            &[
                "sudo apt-get install -y haproxy socat prometheus prometheus-alertmanager webhook"
                    .into(),
                "sudo haproxy -c -f haproxy-canary.cfg".into(),
                "sudo cp -n /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.pre-canary".into(),
                "sudo install -m 0644 haproxy-canary.cfg /etc/haproxy/haproxy.cfg".into(),
                format!("sudo install -m 0755 canary-rollback.sh canary-set-weight.sh {dir}/"),
                format!(
                    "sudo install -m 0644 prometheus.yml prometheus-alerts.yaml alertmanager.yml webhook-hooks.yaml {dir}/"
                ),
                // The token Alertmanager sends and canary-rollback.sh checks (Debian's
                // Alertmanager runs as `prometheus`).
                format!(
                    "sudo install -m 0640 -o root -g prometheus /dev/null {}",
                    shell::word(&ir.host.token_file)
                ),
                format!(
                    "od -An -N32 -tx1 /dev/urandom | tr -d ' \\n' | sudo tee {} > /dev/null",
                    shell::word(&ir.host.token_file)
                ),
                format!(
                    "prometheus --config.file={dir}/prometheus.yml   # or merge its jobs and rule_files into yours"
                ),
                format!(
                    "prometheus-alertmanager --config.file={dir}/alertmanager.yml --web.listen-address=127.0.0.1:{}",
                    ir.listen.alertmanager_port
                ),
                format!(
                    "sudo webhook -hooks {dir}/webhook-hooks.yaml -ip 127.0.0.1 -port {}",
                    ir.listen.webhook_port
                ),
            ],
        );
        let (title, commands) =
            host::take_public_ports(ir, "HAProxy", "sudo systemctl reload-or-restart haproxy");
        step(o, &title, &commands);
    } else {
        step(
            o,
            "Put nginx's split in place:",
            &[
                "sudo install -m 0644 nginx-canary.conf /etc/nginx/conf.d/nginx-canary.conf".into(),
                "sudo nginx -t".into(),
            ],
        );
        let (title, commands) =
            host::take_public_ports(ir, "nginx", "sudo systemctl reload-or-restart nginx");
        step(o, &title, &commands);
    }
}

/// The first step on Kubernetes: the py3 images exist and start.
fn check_images(o: &mut Doc, step: &mut impl FnMut(&mut Doc, &str, &[String]), images: &[String]) {
    if !images.is_empty() {
        step(
            o,
            &format!(
                "Check the py3 image is pushed and starts: {}.",
                images.join(", ")
            ),
            &[],
        );
    }
}
