//! The benchmark runs end to end at a tiny scale (figures are not asserted: speed is measured
//! by `crm bench`, never by timed asserts).

mod common;

#[test]
fn the_bench_runs_at_a_tiny_scale_and_prints_every_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "bench",
            "--contacts",
            "300",
            "--queries",
            "20",
            "--json",
            "--dir",
        ])
        .arg(dir.path().join("bench"))
        .env("STRONGROOM_KDF", "floor")
        .output()
        .expect("run crm bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let names: Vec<&str> = report["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .map(|figure| figure["name"].as_str().expect("name"))
        .collect();
    for expected in [
        "unlock: database open",
        "search as owner, p95",
        "search as sales rep, p99",
        "list page",
        "open contact",
        "backup + verify",
    ] {
        assert!(
            names.iter().any(|name| name.starts_with(expected)),
            "missing {expected}: {names:?}"
        );
    }
    assert!(
        report["machine"]
            .as_str()
            .is_some_and(|machine| machine.contains("cores"))
    );
}
