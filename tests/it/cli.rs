//! Usage errors: one line on stderr, exit code 2, nothing created.

use crate::helpers::{assert_fails, mittaphap};

#[test]
fn usage_errors_exit_2_with_one_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("n");
    let d = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "init",
                "--dir",
                d,
                "--node-id",
                "th-msdhs",
                "--country",
                "Thailand",
                "--name",
                "x",
            ],
            "invalid country",
        ),
        (
            &[
                "init",
                "--dir",
                d,
                "--node-id",
                "TH",
                "--country",
                "TH",
                "--name",
                "x",
            ],
            "invalid node id",
        ),
        (
            &[
                "init",
                "--dir",
                d,
                "--node-id",
                "th-msdhs",
                "--country",
                "TH",
                "--name",
                "x",
                "--federation-url",
                "http://h",
            ],
            "https",
        ),
        (
            &[
                "init",
                "--dir",
                d,
                "--node-id",
                "th-msdhs",
                "--country",
                "TH",
                "--name",
                "x",
                "--desk-addr",
                "nowhere",
            ],
            "invalid value",
        ),
        (
            &[
                "init",
                "--node-id",
                "th-msdhs",
                "--country",
                "TH",
                "--name",
                "x",
            ],
            "--dir",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
        (&["peer", "add", "--dir", d, "file.json"], "--fingerprint"),
    ];
    for (args, needle) in cases {
        assert_fails(&mittaphap(args), 2, needle);
    }
    assert!(!dir.exists(), "usage errors create nothing");
}

#[test]
fn commands_on_a_folder_without_a_node_fail_clearly() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().to_str().unwrap();
    for args in [
        vec!["descriptor", "--dir", d],
        vec!["peer", "list", "--dir", d],
        vec!["serve", "--dir", d],
    ] {
        assert_fails(&mittaphap(&args), 1, "holds no node");
    }
}

#[test]
fn help_exits_0() {
    let out = mittaphap(&["--help"]);
    assert_eq!(out.code, 0);
    for command in ["init", "descriptor", "peer", "serve"] {
        assert!(out.stdout.contains(command), "{command}");
    }
}
