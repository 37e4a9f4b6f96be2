//! The `minilm-embed` program's errors: wrong arguments and unreadable files are one clear
//! line on stderr and a failing exit status, never an embedding. (The embeddings themselves
//! are checked in the library's tests and, end to end, in the workspace's model tests.)

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minilm-embed"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wrong_arguments_print_the_usage() {
    for args in [&[][..], &["a", "b"], &["a", "b", "c", "d", "e"]] {
        let (ok, stdout, stderr) = run(args);
        assert!(!ok);
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("usage: minilm-embed CONFIG TOKENIZER WEIGHTS"),
            "{stderr}"
        );
    }
}

#[test]
fn a_missing_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.json");
    let (ok, stdout, stderr) = run(&[missing.to_str().unwrap(), "t.json", "w.safetensors"]);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("reading {}", missing.display())),
        "{stderr}"
    );
}
