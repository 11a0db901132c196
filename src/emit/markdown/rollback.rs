//! `canary-rollback-runbook.md`: what the automatic rollback does, manual rollback at each
//! stage, how to verify, one section per alert (the alerts' `runbook_url`), and what to do after.

use super::doc::Doc;
use super::{alert_fires_when, cause, engine_docs, host, infra_name, md};
use crate::emit::prometheus::alert_name;
use crate::ir::{Engine, InfraKind, Ir, Router, Target, fmt};

pub(crate) fn rollback_runbook(ir: &Ir) -> String {
    let mut d = Doc::new();
    d.heading(
        1,
        format!(
            "Rollback runbook: {} (Python {} → {})",
            ir.name, ir.python_from, ir.python_to
        ),
    );
    d.raw(&engine_docs::rollback_intro(ir));
    automatic(&mut d, ir);
    manual(&mut d, ir);
    verify(&mut d, ir);
    alerts(&mut d, ir);
    d.raw(&crate::emit::compare_docs::runbook_section(ir));
    back_to_before(&mut d, ir);
    d.heading(2, "After a rollback")
        .line("1. Find the cause in py3's logs and the dashboard; fix it in the py3 build.")
        .line("2. Deploy the fixed py3 copy (it still has no traffic).")
        .raw(&engine_docs::restart(ir));
    d.finish()
}

/// canaryc's own loop on a host: its receiver and script are described here, not by the engine.
fn bare_loop(t: &Target) -> bool {
    t.infra == InfraKind::BareMetal && t.engine == Engine::Canaryc
}

fn automatic(d: &mut Doc, ir: &Ir) {
    d.heading(
        2,
        if engine_docs::any_automatic(ir) {
            "What the automatic rollback does"
        } else {
            "No automatic rollback"
        },
    );
    d.line(format!(
        "Prometheus evaluates the rules in `prometheus-alerts.yaml`. When one fires, it carries `canary=\"rollback\"` and `plan=\"{}\"`. ",
        ir.name
    ));
    for t in ir.targets.iter().filter(|t| !bare_loop(t)) {
        let prefix = if ir.targets.len() > 1 {
            format!("{}: ", infra_name(t.infra))
        } else {
            String::new()
        };
        d.line(format!("{prefix}{}", engine_docs::automatic(ir, *t)));
    }
    if ir.targets.iter().any(bare_loop) {
        d.paragraph(format!(
            "Alertmanager (`alertmanager.yml`) routes it to the `canary-rollback` receiver, a webhook on 127.0.0.1:{port} served by the `webhook` daemon (`webhook-hooks.yaml`), which runs `{dir}/canary-rollback.sh` for the alert's service. The receiver is authenticated: Alertmanager sends the token in `{token}` as a bearer token, the webhook daemon refuses a request without one, and the script refuses one whose token does not match, or that names a service this bundle was not built for. The script tells HAProxy over its admin socket ({sock}) to set py3's weight to 0 and put it in maintenance (so users pinned to py3 by cookie are redispatched to py2 too), gives py2 the full weight, and saves the server state so a reload keeps the rollback. In-flight idempotent requests that fail on py3 are retried on py2 (`retry-on`, `option redispatch`).",
            dir = ir.host.install_dir,
            token = ir.host.token_file,
            sock = ir.host.socket,
            port = ir.listen.webhook_port
        ));
    }
}

/// On a host, the way back to the server the team ran before the canary.
fn back_to_before(d: &mut Doc, ir: &Ir) {
    for t in ir
        .targets
        .iter()
        .filter(|t| t.infra == InfraKind::BareMetal)
    {
        let restore = match t.router {
            Router::Haproxy => {
                "sudo cp /etc/haproxy/haproxy.cfg.pre-canary /etc/haproxy/haproxy.cfg && sudo systemctl reload-or-restart haproxy"
            }
            _ => "sudo rm /etc/nginx/conf.d/nginx-canary.conf && sudo systemctl reload nginx",
        };
        let (intro, commands) = host::give_back_public_ports(ir, restore);
        d.heading(2, "Back to before the canary")
            .paragraph(intro)
            .code_block("", "sh", &commands)
            .blank();
    }
}

fn manual(d: &mut Doc, ir: &Ir) {
    d.heading(2, "Manual rollback").paragraph(
        "The same commands work at every stage; what differs is how many users were on py3.",
    );
    for t in &ir.targets {
        let commands = engine_docs::rollback_commands(ir, *t)
            .unwrap_or_else(|| crate::emit::rollback_commands(ir, t));
        d.heading(3, infra_name(t.infra))
            .code_block("", "sh", &commands)
            .blank();
    }
    d.table_header(&["stage", "py3 share when rolled back", "what users saw"]);
    for st in &ir.stages {
        let (share, out_of) = if st.traffic >= 1.0 {
            (fmt(st.traffic), "100")
        } else {
            (fmt(st.traffic * 10.0), "1000")
        };
        d.row(&[
            md::text(&st.name).into_owned(),
            format!("{}%", fmt(st.traffic)),
            format!(
                "about {share} in {out_of} requests went to py3 until the rollback{}",
                engine_docs::stage_rollback_note(ir, st)
            ),
        ]);
    }
    d.blank();
    if let Some(after) = engine_docs::after_promotion(ir) {
        d.raw(&after);
    }
}

fn verify(d: &mut Doc, ir: &Ir) {
    d.heading(2, "Verify");
    for t in &ir.targets {
        let commands =
            engine_docs::verify(ir, *t).unwrap_or_else(|| crate::emit::verify_commands(ir, t));
        d.heading(3, infra_name(t.infra))
            .code_block("", "sh", &commands)
            .blank();
    }
    d.paragraph("Then watch the dashboard: py3's requests per second drop to zero within a scrape interval or two, and the error rate seen by clients returns to py2's.");
}

fn alerts(d: &mut Doc, ir: &Ir) {
    d.heading(2, "Alerts").paragraph("Each alert's `runbook_url` points here. One rule covers every service of the plan; the alert's `service` label says which one to roll back.");
    for t in &ir.triggers {
        d.heading(3, alert_name(t)).paragraph(format!(
            "{} Roll back (above), then look for the cause: {}",
            alert_fires_when(ir, t),
            cause(t.kind)
        ));
    }
}
