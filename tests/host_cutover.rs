//! On bare metal the load balancer takes the service's public port, which whatever serves the
//! app today still holds: the runbook stops that server in the same command line as the
//! balancer starts (else the balancer cannot bind), keeps the host's own HAProxy configuration,
//! and the copies run as the user the team's server ran them as.

use crate::common::{planned, read};

/// `canaryc plan` of a codebase of `files`: the runbook and the py2 unit.
fn plan(files: &[(&str, &str)]) -> (String, String) {
    let dir = planned(files);
    (
        read(&dir, "canary-plan.md"),
        read(&dir, "systemd-py2.service"),
    )
}

const APP: (&str, &str) = (
    "graphite/wsgi.py",
    "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
);
const REQUIREMENTS: (&str, &str) = ("requirements.txt", "Django==1.11\n");

fn vhost(daemon: &str) -> String {
    format!(
        "<VirtualHost *:80>\n    WSGIDaemonProcess graphite {daemon}processes=2 threads=4\n    WSGIProcessGroup graphite\n    WSGIScriptAlias / /srv/graphite/graphite/wsgi.py\n</VirtualHost>\n"
    )
}

/// The command block of the runbook step whose title starts with `title`.
fn step_commands<'a>(runbook: &'a str, title: &str) -> Vec<&'a str> {
    let start = runbook
        .lines()
        .position(|l| {
            l.split_once(". ")
                .is_some_and(|(_, t)| t.starts_with(title))
        })
        .unwrap_or_else(|| panic!("no step `{title}` in:\n{runbook}"));
    runbook
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.trim_start().starts_with("```"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(str::trim)
        .collect()
}

#[test]
fn apache_gives_up_the_port_before_haproxy_takes_it() {
    let (runbook, unit) = plan(&[APP, REQUIREMENTS, ("deploy/graphite.conf", &vhost(""))]);
    let take = step_commands(&runbook, "Move the public port to HAProxy");
    assert_eq!(
        take,
        ["sudo systemctl reload apache2 && sudo systemctl reload-or-restart haproxy"],
        "{runbook}"
    );
    assert!(
        runbook.contains("Apache's virtual host from `deploy/graphite.conf`: disable that site"),
        "{runbook}"
    );
    // Without `user=`, Apache ran the daemon as its own user, who owns what the app writes.
    assert!(unit.contains("\nUser=www-data\nGroup=www-data\n"), "{unit}");
    assert!(unit.contains("has no `user=`"), "{unit}");
}

#[test]
fn a_daemon_user_is_the_copies_user() {
    let (_, unit) = plan(&[
        APP,
        REQUIREMENTS,
        (
            "deploy/graphite.conf",
            &vhost("user=graphite group=graphite "),
        ),
    ]);
    assert!(unit.contains("\nUser=graphite\nGroup=graphite\n"), "{unit}");
    assert!(!unit.contains("user="), "{unit}");
}

#[test]
fn the_hosts_haproxy_configuration_is_kept_and_haproxy_is_installed_before_it_is_used() {
    let (runbook, _) = plan(&[APP, REQUIREMENTS, ("deploy/graphite.conf", &vhost(""))]);
    let install = step_commands(&runbook, "Install HAProxy and the rollback automation");
    let at = |command: &str| {
        install
            .iter()
            .position(|l| l.starts_with(command))
            .unwrap_or_else(|| panic!("no `{command}` in {install:#?}"))
    };
    assert!(install[at("sudo apt-get install")].contains(" haproxy "));
    assert!(at("sudo apt-get install") < at("sudo haproxy -c"));
    assert!(
        at("sudo cp -n /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.pre-canary")
            < at("sudo install -m 0644 haproxy-canary.cfg /etc/haproxy/haproxy.cfg")
    );
    // HAProxy starts on the public port only in the next step, once the old server is stopped.
    assert!(
        !install.iter().any(|l| l.contains("systemctl reload")),
        "{install:#?}"
    );
}

#[test]
fn supervisord_and_systemd_servers_are_stopped_by_their_managers() {
    for (file, text, command) in [
        (
            "deploy/supervisord.conf",
            "[program:graphite]\ncommand=/srv/app/venv/bin/gunicorn --bind 0.0.0.0:8000 graphite.wsgi:application\ndirectory=/srv/app\nuser=graphite\n",
            "sudo supervisorctl stop graphite && sudo systemctl reload-or-restart haproxy",
        ),
        (
            "deploy/graphite.service",
            "[Unit]\nDescription=graphite\n\n[Service]\nUser=graphite\nWorkingDirectory=/srv/app\nExecStart=/srv/app/venv/bin/gunicorn --bind 0.0.0.0:8000 graphite.wsgi:application\n\n[Install]\nWantedBy=multi-user.target\n",
            "sudo systemctl disable --now graphite.service && sudo systemctl reload-or-restart haproxy",
        ),
    ] {
        let (runbook, unit) = plan(&[APP, REQUIREMENTS, (file, text)]);
        assert_eq!(
            step_commands(&runbook, "Move the public port to HAProxy"),
            [command],
            "{file}:\n{runbook}"
        );
        assert!(unit.contains("\nUser=graphite\n"), "{unit}");
        assert!(!unit.contains("www-data"), "{unit}");
    }
}

#[test]
fn two_sites_of_one_apache_are_given_up_and_back_with_one_reload() {
    let other = "<VirtualHost *:8080>\n    WSGIDaemonProcess api processes=2\n    WSGIProcessGroup api\n    WSGIScriptAlias / /srv/graphite/api/wsgi.py\n</VirtualHost>\n";
    let dir = planned(&[
        APP,
        ("api/wsgi.py", APP.1),
        REQUIREMENTS,
        ("deploy/graphite.conf", vhost("").as_str()),
        ("deploy/api.conf", other),
    ]);
    let runbook = read(&dir, "canary-plan.md");
    for site in ["`deploy/api.conf`", "`deploy/graphite.conf`"] {
        assert!(
            runbook.contains(&format!("Apache's virtual host from {site}")),
            "{runbook}"
        );
    }
    assert_eq!(
        step_commands(&runbook, "Move the public port to HAProxy"),
        ["sudo systemctl reload apache2 && sudo systemctl reload-or-restart haproxy"],
        "{runbook}"
    );
    let rollback = read(&dir, "canary-rollback-runbook.md");
    let back = rollback
        .lines()
        .find(|l| l.starts_with("sudo cp /etc/haproxy/haproxy.cfg.pre-canary"))
        .unwrap_or_else(|| panic!("{rollback}"));
    assert_eq!(back.matches("reload apache2").count(), 1, "{back}");
}
