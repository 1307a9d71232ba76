//! Black-box tests of the `nas` binary's space and arch commands: counts,
//! exit codes, and errors that name the problem without panicking.

use std::process::{Command, Output, Stdio};

fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nas")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn enumerate_prints_one_canonical_genotype_per_line() {
    let o = nas(&["space", "enumerate", "--space", "pnas", "--blocks", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 136);
    let o = nas(&["space", "enumerate", "--space", "nb201"]);
    assert!(o.status.success());
    let lines: std::collections::HashSet<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 15_625);
    // Every enumerated line validates.
    for line in lines.iter().take(50) {
        let v = nas(&["arch", "validate", "--space", "nb201", line]);
        assert!(v.status.success(), "{line}: {}", stderr(&v));
    }
}

#[test]
fn sample_is_seeded_and_validates() {
    for (space, extra) in [
        ("nb201", vec![]),
        ("darts", vec![]),
        ("pnas", vec!["--blocks", "3"]),
        ("macro", vec!["--layers", "5"]),
    ] {
        let mut args = vec![
            "space", "sample", "--space", space, "--seed", "11", "--count", "5",
        ];
        args.extend(&extra);
        let a = nas(&args);
        let b = nas(&args);
        assert!(a.status.success(), "{space}: {}", stderr(&a));
        assert_eq!(stdout(&a), stdout(&b));
        assert_eq!(stdout(&a).lines().count(), 5);
        for line in stdout(&a).lines() {
            let mut v = vec!["arch", "validate", "--space", space, line];
            v.extend(&extra);
            let o = nas(&v);
            assert!(o.status.success(), "{space} {line}: {}", stderr(&o));
        }
    }
}

#[test]
fn show_prints_canonical_form_and_hash() {
    let o = nas(&["arch", "show", "--space", "darts", "DARTS_V2"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).ends_with("hash 2194af0ba9a5fc52\n"),
        "{}",
        stdout(&o)
    );
    let o = nas(&[
        "arch",
        "show",
        "--space",
        "pnas",
        "--json",
        "(1,sep_3x3,0,max_pool_3x3)(2,identity,1,avg_pool_3x3)",
    ]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        doc["canonical"],
        "(0,max_pool_3x3,1,sep_3x3)(1,avg_pool_3x3,2,identity)"
    );
    assert_eq!(doc["hash"], "4edd56e6c8e50540");
    // The JSON genotype is accepted back as input.
    let json = doc["genotype"].to_string();
    let o = nas(&["arch", "show", "--space", "pnas", &json]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("4edd56e6c8e50540"));
}

#[test]
fn bad_input_exits_non_zero_with_the_reason_and_never_panics() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "arch",
                "validate",
                "--space",
                "pnas",
                "(0,sep_3x3,1,identity)(2,sep_3x3,1,identity)(5,identity,0,sep_3x3)",
            ],
            "block 3: input 5 refers to a block that does not exist",
        ),
        (
            &[
                "arch",
                "validate",
                "--space",
                "nb201",
                "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            ],
            "node 1 edge 1: unknown op \"conv\"",
        ),
        (
            &[
                "arch",
                "validate",
                "--space",
                "darts",
                "Genotype(normal=[('sep_conv_3x3', 0)",
            ],
            "expected ',' or ']', found the end",
        ),
        (
            &["arch", "validate", "--space", "macro", "3x3:24 3x3:24<4"],
            "layer 1 anchors: 4 is not an earlier layer",
        ),
        (
            &[
                "arch",
                "validate",
                "--space",
                "pnas",
                "--blocks",
                "1",
                "(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)",
            ],
            "the cell has 2 blocks, the space at most 1",
        ),
        (
            &["arch", "validate", "--space", "pnas", "{\"blocks\": 3}"],
            "invalid pnas genotype JSON",
        ),
        (
            &["space", "enumerate", "--space", "macro"],
            "too many to list",
        ),
        (
            &[
                "space", "sample", "--space", "pnas", "--blocks", "9", "--seed", "1",
            ],
            "9 is not a block count between 1 and 5",
        ),
        (
            &[
                "space", "sample", "--space", "nb201", "--blocks", "2", "--seed", "1",
            ],
            "--blocks applies to the pnas space",
        ),
        (
            &["arch", "show", "--space", "quantum", "x"],
            "unknown space \"quantum\"",
        ),
    ];
    for (args, want) in cases {
        let o = nas(args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(want),
            "{args:?}\n  got:  {err}\n  want: {want}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["space", "enumerate", "--space", "nb201"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line and hang up, as `| head -1` does.
    {
        use std::io::{BufRead, BufReader};
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("|none~0|"));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
