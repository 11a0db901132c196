//! On a host, the service's public port changes hands twice: from the server that serves the
//! app today to the load balancer at the start of the canary, and back if the canary is
//! abandoned. A port cannot be bound twice, so each time one side stops in the same command
//! line as the other starts, and clients see refused connections only between the two.

use super::md;
use crate::emit::escape::shell;
use crate::ir::{Ir, Predecessor, PredecessorKind};

/// The cutover step that gives each service's public port to the `balancer`: its title and its
/// one command line, ending in `start`.
pub(super) fn take_public_ports(ir: &Ir, balancer: &str, start: &str) -> (String, Vec<String>) {
    let mut told = Vec::new();
    let mut line = Vec::new();
    for s in &ir.services {
        let (what, stop) = match &s.replaces {
            Some(p) => (
                describe(p, balancer),
                manager_commands(p).map(|(stop, _)| stop),
            ),
            // Nothing in the codebase said what serves it: the operator has to know.
            None => (
                "canaryc found nothing in the codebase that serves it; if something on the host does (`sudo ss -ltnp`), stop it in this same line".to_string(),
                None,
            ),
        };
        told.push(format!(
            "{} on port {}: {what}",
            md::text(&s.name),
            s.public_port
        ));
        // Two sites of one Apache need one reload.
        line.extend(stop.filter(|c| !line.contains(c)));
    }
    line.push(start.to_string());
    let title = format!(
        "Move the public port to {balancer}: stop what serves it today, then start {balancer} at once (clients see refused connections only between the two). {}.",
        told.join("; ")
    );
    (title, vec![line.join(" && ")])
}

/// The rollback runbook's way back to before the canary: `restore` gives the port up (the
/// balancer's own configuration back), then each service's old server starts again, then the
/// copies stop.
pub(super) fn give_back_public_ports(ir: &Ir, restore: &str) -> (String, Vec<String>) {
    let mut told = Vec::new();
    let mut line = vec![restore.to_string()];
    for s in &ir.services {
        match s.replaces.as_ref().and_then(manager_commands) {
            Some((_, start)) if line.contains(&start) => {}
            Some((_, start)) => line.push(start),
            None => told.push(format!(
                "start {} again by hand on port {} once the first line has run",
                what_serves(s.replaces.as_ref()),
                s.port
            )),
        }
    }
    let mut commands = vec![line.join(" && ")];
    for s in &ir.services {
        commands.push(format!(
            "sudo systemctl disable --now {} {}",
            shell::word(&s.units.py2),
            shell::word(&s.units.py3)
        ));
    }
    let mut intro = "To abandon the canary altogether and serve from the host's own server as before it, give the public port back, then stop both copies.".to_string();
    if any_replaces(ir, PredecessorKind::ApacheVhost) {
        intro.push_str(" Enable the Apache site again first (Debian: `sudo a2ensite SITE`), with its `Listen` if you removed it.");
    }
    if any_replaces(ir, PredecessorKind::SupervisordProgram) {
        intro.push_str(" Set `autostart=true` again in the supervisord programs you changed.");
    }
    if !told.is_empty() {
        intro.push_str(&format!(" Then {}.", told.join("; ")));
    }
    (intro, commands)
}

fn what_serves(p: Option<&Predecessor>) -> String {
    match p {
        Some(p) => format!("the `{}` process", md::text(&p.name)),
        None => "the server that served it".to_string(),
    }
}

/// How the runbook names what serves a port today, and how to keep it from starting again.
fn describe(p: &Predecessor, balancer: &str) -> String {
    let file = md::code(&p.file);
    match p.kind {
        PredecessorKind::ApacheVhost => format!(
            "Apache's virtual host from {file}: disable that site (Debian: `sudo a2dissite SITE`, the name it is installed under) and, if no other Apache site listens on the port, remove its `Listen` from ports.conf; if others do, move them behind {balancer} too"
        ),
        PredecessorKind::SystemdUnit => {
            format!("the systemd unit {} (from {file})", md::code(&p.name))
        }
        PredecessorKind::SupervisordProgram => format!(
            "supervisord's program {} (from {file}): set `autostart=false` in it, so a supervisord restart does not start it again",
            md::code(&p.name)
        ),
        PredecessorKind::UpstartJob => format!(
            "the Upstart job {} (from {file}): a {} holding `manual` keeps it stopped",
            md::code(&p.name),
            md::code(&format!("/etc/init/{}.override", p.name))
        ),
        PredecessorKind::Process => format!(
            "the {} process canaryc found in {file}, which it does not know how the host starts: stop it by hand first",
            md::code(&p.name)
        ),
    }
}

/// The commands that stop it and start it again, when canaryc knows its manager.
fn manager_commands(p: &Predecessor) -> Option<(String, String)> {
    let name = shell::word(&p.name);
    Some(match p.kind {
        // The site is disabled (or enabled) by hand first: a reload applies either.
        PredecessorKind::ApacheVhost => (
            "sudo systemctl reload apache2".to_string(),
            "sudo systemctl reload apache2".to_string(),
        ),
        PredecessorKind::SystemdUnit => (
            format!("sudo systemctl disable --now {name}"),
            format!("sudo systemctl enable --now {name}"),
        ),
        PredecessorKind::SupervisordProgram => (
            format!("sudo supervisorctl stop {name}"),
            format!("sudo supervisorctl start {name}"),
        ),
        PredecessorKind::UpstartJob => (
            format!("sudo stop {name}"),
            format!("sudo rm -f /etc/init/{name}.override && sudo start {name}"),
        ),
        PredecessorKind::Process => return None,
    })
}

/// Whether what serves some service's port today is of `kind`.
fn any_replaces(ir: &Ir, kind: PredecessorKind) -> bool {
    ir.services
        .iter()
        .any(|s| s.replaces.as_ref().is_some_and(|p| p.kind == kind))
}
