//! What the generated systemd units need from the host to start at all.

use std::path::Path;

use crate::common::{canaryc, stderr};

/// A bare-metal plan for one service on `port`, with a comparator, built into `dir/out`; the
/// units' texts by file name.
fn units(dir: &Path, port: u16) -> Vec<(String, String)> {
    let plan = format!(
        "plan graphite {{\n  python = 2.7 -> 3.12\n  infra  = bare-metal(router: haproxy)\n  service {{\n    port = {port}\n    command py2 = \"mod_wsgi-express start-server /opt/graphite/conf/graphite.wsgi --port {port}\"\n  }}\n  compare {{ }}\n}}\n"
    );
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(dir, &["build", "canary.plan", "--output", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut units: Vec<(String, String)> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .filter(|p| !p.to_string_lossy().contains("promote"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    units.sort();
    units
}

#[test]
fn copies_of_a_service_on_a_privileged_port_may_bind_theirs() {
    // Port 80 puts py2 on 81, py3 on 82, the comparator on 83 and the second py2 copy on 84:
    // as the service's user (or systemd's DynamicUser) none of them could bind without the
    // capability, and the copies would fail to start on install.
    let dir = tempfile::tempdir().unwrap();
    let got = units(dir.path(), 80);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "canary-compare.service",
            "systemd-py2-secondary.service",
            "systemd-py2.service",
            "systemd-py3.service"
        ]
    );
    for (name, text) in &got {
        assert!(
            text.lines()
                .any(|l| l == "AmbientCapabilities=CAP_NET_BIND_SERVICE"),
            "{name}:\n{text}"
        );
        assert!(
            !text.contains("CapabilityBoundingSet"),
            "{name} grants the one capability"
        );
    }
}

#[test]
fn copies_above_1023_get_no_capability() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in units(dir.path(), 8000) {
        assert!(!text.contains("AmbientCapabilities"), "{name}:\n{text}");
    }
}
