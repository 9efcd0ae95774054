//! The paper builds from the data committed in paper/data, with every
//! placeholder resolved and every figure generated.

mod common;
use common::*;

#[test]
fn paper_builds_from_committed_data() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tmpdir("paper");
    let o = alps()
        .args(["paper", "--template"])
        .arg(format!("{root}/paper/paper.md.in"))
        .arg("--data")
        .arg(format!("{root}/paper/data"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("paper.md")).unwrap();
    assert!(!md.contains("{{"), "unresolved placeholder");
    for section in [
        "## 1. The problem",
        "### 5.1 The live comparison",
        "### 5.2 The blind spot",
        "### 5.3 The fix",
        "### 5.7 Simulation at scale",
        "### 5.8 Ablations",
        "## 6. Limitations",
    ] {
        assert!(md.contains(section), "missing {section}");
    }
    // Figures referenced exist.
    for line in md.lines().filter(|l| l.starts_with("![")) {
        let f = line.split('(').nth(1).unwrap().trim_end_matches(')');
        assert!(out.join(f).exists(), "figure {f} not generated");
    }
    let numbers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("numbers.json")).unwrap()).unwrap();
    assert!(numbers.as_object().unwrap().len() > 100);
    let _ = std::fs::remove_dir_all(&out);
}
