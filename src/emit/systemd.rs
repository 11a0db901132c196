//! `systemd-py2.service` and `systemd-py3.service`: each copy on its own port, py3 from its own
//! virtualenv with its runtime environment, and the hardening a web service can take without
//! knowing its file layout.

use super::escape::{comment, systemd as sd};
use super::{OutputFile, file};
use crate::ir::{Interpreter, Ir, ServiceIr, binds_privileged_port};

/// The command's words with the service's port replaced by the copy's (`--bind 0.0.0.0:6543`
/// → `--bind 127.0.0.1:6544`): both copies share the host, HAProxy takes the public port.
pub(super) fn command_for(s: &ServiceIr, copy: Interpreter) -> Option<Vec<String>> {
    let (command, port) = match copy {
        Interpreter::Py2 => (s.command_py2.as_ref()?, s.port_py2),
        Interpreter::Py3 => (s.command_py3.as_ref()?, s.port_py3),
    };
    Some(command_on_port(s, command, port))
}

/// The command's words listening on `port` instead of the service's.
fn command_on_port(s: &ServiceIr, command: &str, port: u16) -> Vec<String> {
    let from = format!(":{}", s.port);
    let mut replaced = false;
    // The checker rejects commands that do not split (CNR209); one from elsewhere splits on
    // spaces, and each word is escaped either way.
    let split = crate::check::strings::split_words(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_string).collect());
    let mut words: Vec<String> = split
        .into_iter()
        .map(|w| match w.strip_suffix(&from) {
            Some(prefix) => {
                replaced = true;
                let host_start = prefix.rfind('=').map_or(0, |i| i + 1);
                let (flag, host) = prefix.split_at(host_start);
                let host = if matches!(host, "" | "0.0.0.0" | "*") {
                    "127.0.0.1"
                } else {
                    host
                };
                format!("{flag}{host}:{port}")
            }
            None => w,
        })
        .collect();
    // `--port 6543` / `--port=6543` (waitress, mod_wsgi-express, uvicorn): the copy's port.
    let service_port = s.port.to_string();
    for i in 0..words.len() {
        if words[i] == format!("--port={service_port}") {
            words[i] = format!("--port={port}");
            replaced = true;
        } else if words[i] == "--port" && words.get(i + 1) == Some(&service_port) {
            words[i + 1] = port.to_string();
            replaced = true;
        }
    }
    // gunicorn without a bind of the service's port: give it the copy's (after an APM agent
    // that runs it, `newrelic-admin run-program gunicorn`).
    let at = crate::ir::program_index(&words);
    let program = words
        .get(at)
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
    if !replaced
        && program.as_deref() == Some("gunicorn")
        && !words
            .iter()
            .any(|w| w == "--bind" || w == "-b" || w.starts_with("--bind="))
    {
        words.insert(at + 1, "--bind".to_string());
        words.insert(at + 2, format!("127.0.0.1:{port}"));
    }
    words
}

pub(super) fn units(ir: &Ir) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for s in &ir.services {
        for copy in [Interpreter::Py2, Interpreter::Py3] {
            let Some(command) = command_for(s, copy) else {
                continue;
            };
            out.push(file(
                s.unit_files.get(copy).to_string(),
                match copy {
                    Interpreter::Py2 => "systemd unit: the py2 copy on its own port",
                    Interpreter::Py3 => {
                        "systemd unit: the py3 copy from its virtualenv, with its runtime settings"
                    }
                },
                unit(ir, s, copy, &command),
            ));
        }
        out.extend(comparator_units(ir, s));
    }
    out
}

/// The generated file of a comparator unit, and of its second py2 copy's.
pub(super) fn comparator_unit_names(ir: &Ir, s: &ServiceIr) -> (String, String) {
    if ir.services.len() == 1 {
        (
            "canary-compare.service".into(),
            "systemd-py2-secondary.service".into(),
        )
    } else {
        (
            format!("canary-compare-{}.service", s.name),
            format!("systemd-{}-py2-secondary.service", s.name),
        )
    }
}

/// `canaryc compare` in front of py2 on the host, and the second py2 copy only it calls.
fn comparator_units(ir: &Ir, s: &ServiceIr) -> Vec<OutputFile> {
    let Some(c) = &s.compare else {
        return Vec::new();
    };
    let Some(t) = c.target(crate::ir::InfraKind::BareMetal) else {
        return Vec::new();
    };
    let Some(py2) = s.command_py2.as_deref() else {
        return Vec::new();
    };
    let (compare_file, secondary_file) = comparator_unit_names(ir, s);
    let secondary_command = command_on_port(s, py2, c.host_secondary_port);
    let secondary = unit_as(
        ir,
        s,
        Interpreter::Py2,
        &secondary_command,
        &Role {
            port: c.host_secondary_port,
            installed: format!("{}.service", c.secondary),
            what: "second py2 copy, called only by the comparator".into(),
        },
    );
    let plan = format!("{}/canary.plan", ir.host.install_dir);
    let words: Vec<String> = [
        "/usr/local/bin/canaryc",
        "compare",
        "--listen",
        &t.listen,
        "--admin",
        &t.admin,
        "--primary",
        &t.primary,
        "--secondary",
        &t.secondary,
        "--candidate",
        &t.candidate,
        "--plan",
        &plan,
        "--service",
        &s.name,
    ]
    .iter()
    .map(|w| (*w).to_string())
    .collect();
    let compare = format!(
        "# canaryc compare for {name} in the {plan_name} canary: install as /etc/systemd/system/{unit}.service.\n\
         # The load balancer's py2 server is this comparator ({listen}): clients get py2's answers from it,\n\
         # and it mirrors them to {secondary} and py3. /metrics and /report on {admin}. Generated by canaryc from canary.plan.\n\
         [Unit]\nDescription=canaryc compare: py3's responses diffed with py2's for {name}\n\
         After=network-online.target {py2}.service {secondary}.service\nWants=network-online.target {py2}.service {secondary}.service\n\n\
         [Service]\nType=simple\nDynamicUser=yes\nExecStart={exec}\n{capability}\
         Restart=on-failure\nRestartSec=2s\nTimeoutStopSec=30s\nKillSignal=SIGTERM\n\n\
         NoNewPrivileges=yes\nPrivateTmp=yes\nPrivateDevices=yes\nProtectSystem=strict\nProtectHome=yes\n\
         ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectControlGroups=yes\n\
         RestrictSUIDSGID=yes\nRestrictNamespaces=yes\nLockPersonality=yes\nMemoryDenyWriteExecute=yes\n\
         RestrictAddressFamilies=AF_INET AF_INET6\n\n[Install]\nWantedBy=multi-user.target\n",
        name = s.name,
        plan_name = ir.name,
        unit = c.name,
        listen = t.listen,
        secondary = c.secondary,
        admin = t.admin,
        py2 = s.object(Interpreter::Py2),
        exec = sd::exec_line(&words),
        capability = bind_capability(c.host_port),
    );
    vec![
        file(
            compare_file,
            "systemd unit: canaryc compare in front of py2, mirroring to the second py2 copy and py3",
            compare,
        ),
        file(
            secondary_file,
            "systemd unit: the second py2 copy the comparator learns noise from",
            secondary,
        ),
    ]
}

/// What a unit runs as: its port, the name it is installed under, and how it is described.
struct Role {
    port: u16,
    installed: String,
    what: String,
}

fn unit(ir: &Ir, s: &ServiceIr, copy: Interpreter, command: &[String]) -> String {
    let role = Role {
        port: match copy {
            Interpreter::Py2 => s.port_py2,
            Interpreter::Py3 => s.port_py3,
        },
        installed: s.units.get(copy).to_string(),
        what: format!("canary copy {}", copy.as_str()),
    };
    unit_as(ir, s, copy, command, &role)
}

fn unit_as(ir: &Ir, s: &ServiceIr, copy: Interpreter, command: &[String], role: &Role) -> String {
    let port = role.port;
    let env = match copy {
        Interpreter::Py2 => &s.env_py2,
        Interpreter::Py3 => &s.env_py3,
    };
    let mut out = format!(
        "# {name} ({copy}) for the {plan} canary: install as /etc/systemd/system/{installed}.\n# Generated by canaryc from canary.plan.\n[Unit]\nDescription={name} on Python {python} ({what})\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\n",
        name = s.name,
        copy = copy.as_str(),
        what = role.what,
        plan = ir.name,
        installed = role.installed,
        python = match copy {
            Interpreter::Py2 => &ir.python_from,
            Interpreter::Py3 => &ir.python_to,
        },
    );
    let user = sd::raw(s.user.as_deref().unwrap_or(&s.name));
    if let Some(reason) = &s.user_reason {
        out.push_str(&format!("# {}.\n", comment(reason)));
    }
    out.push_str(&format!("User={user}\nGroup={user}\n"));
    out.push_str(&format!("WorkingDirectory={}\n", sd::raw(&s.workdir)));
    out.push_str(&format!("Environment=PORT={port}\n"));
    for e in env {
        out.push_str(&format!(
            "Environment={}\n",
            sd::assignment(&e.name, &e.value)
        ));
    }
    out.push_str(&format!("ExecStart={}\n", sd::exec_line(command)));
    out.push_str(&bind_capability(port));
    out.push_str(
        "Restart=on-failure\nRestartSec=2s\nTimeoutStopSec=30s\nKillMode=mixed\n\n\
         # Hardening that does not depend on where the app writes.\n\
         NoNewPrivileges=yes\nPrivateTmp=yes\nPrivateDevices=yes\nProtectSystem=full\nProtectHome=yes\n\
         ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectControlGroups=yes\n\
         RestrictSUIDSGID=yes\nRestrictNamespaces=yes\nLockPersonality=yes\n\
         RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n\n[Install]\nWantedBy=multi-user.target\n",
    );
    out
}

/// The grant a unit needs to listen on `port` as an unprivileged user: none above 1023, else
/// `CAP_NET_BIND_SERVICE` alone, as an ambient capability (kept across `NoNewPrivileges=yes`,
/// which only stops gaining privileges through exec).
fn bind_capability(port: u16) -> String {
    if binds_privileged_port(port) {
        format!(
            "# Port {port} is below 1024: binding it as this user needs CAP_NET_BIND_SERVICE, and only that.\n\
             AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
        )
    } else {
        String::new()
    }
}
