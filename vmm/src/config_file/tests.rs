//! Tests of `--config`: precedence between the file and the command line, unknown keys,
//! value types, lists, and the options view `GET /vm` shows.

use super::*;
use crate::cli::Cli;
use clap::{CommandFactory, FromArgMatches};

fn file(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ovmm-cfg-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn args(list: &[&str]) -> Vec<OsString> {
    std::iter::once("ovmm")
        .chain(list.iter().copied())
        .map(OsString::from)
        .collect()
}

/// Expands and parses like `main` does.
fn parse(list: &[&str]) -> Result<(Cli, ArgMatches), String> {
    let cmd = Cli::command();
    let expanded = expand(&cmd, args(list)).map_err(|e| e.to_string())?;
    let m = cmd
        .try_get_matches_from(expanded)
        .map_err(|e| e.to_string())?;
    Ok((Cli::from_arg_matches(&m).map_err(|e| e.to_string())?, m))
}

#[test]
fn every_key_from_the_file() {
    let f = file(
        "all",
        r#"
kernel = "/k"
initrd = "/i"
cmdline = "-- console=ttyS0 quiet"
memory = "2G"
cpus = 2
serial = "none"
no-reboot = true
timeout = 30
vfio = ["01:00.0", "02:00.0,intx=on"]
api-socket = "/run/ovmm.sock"
verbose = 2
"#,
    );
    let (cli, m) = parse(&["--config", f.to_str().unwrap()]).unwrap();
    let r = cli.run.to_request();
    assert_eq!(r.kernel, PathBuf::from("/k"));
    assert_eq!(r.initrd, Some(PathBuf::from("/i")));
    assert_eq!(r.cmdline.as_deref(), Some("-- console=ttyS0 quiet"));
    assert_eq!(r.memory.as_deref(), Some("2G"));
    assert_eq!(r.cpus, Some(2));
    assert_eq!(r.serial.as_deref(), Some("none"));
    assert!(r.no_reboot);
    assert_eq!(r.timeout, Some(30));
    assert_eq!(r.vfio, ["01:00.0", "02:00.0,intx=on"]);
    assert_eq!(cli.run.api_socket, Some(PathBuf::from("/run/ovmm.sock")));
    assert_eq!(cli.verbose, 2);

    let view = options_view(&Cli::command(), &m);
    assert_eq!(view["memory"], "2G");
    assert_eq!(view["cpus"], "2");
    assert_eq!(view["no-reboot"], true);
    assert_eq!(view["verbose"], 2);
    assert_eq!(
        view["vfio"],
        serde_json::json!(["01:00.0", "02:00.0,intx=on"])
    );
    assert!(view.contains_key("config"));
    assert!(!view.contains_key("dump-acpi"));
    std::fs::remove_file(f).unwrap();
}

#[test]
fn the_command_line_wins() {
    let f = file(
        "precedence",
        "kernel = \"/k\"\nmemory = \"2G\"\ncpus = 4\nvfio = [\"01:00.0\", \"02:00.0\"]\n",
    );
    let path = f.to_str().unwrap();
    // Single values: the command line overrides, before or after --config.
    let (cli, _) = parse(&["--memory", "1G", "--config", path, "--cpus=1"]).unwrap();
    let r = cli.run.to_request();
    assert_eq!((r.memory.as_deref(), r.cpus), (Some("1G"), Some(1)));
    assert_eq!(r.kernel, PathBuf::from("/k"));
    // A list on the command line replaces the file's list (not appended to it).
    let (cli, _) = parse(&["--config", path, "--vfio", "03:00.0"]).unwrap();
    assert_eq!(cli.run.vfio, ["03:00.0"]);
    // Without one, the file's list stays.
    let (cli, _) = parse(&["--config", path]).unwrap();
    assert_eq!(cli.run.vfio, ["01:00.0", "02:00.0"]);
    // A value that starts with a dash stays a value.
    let (cli, _) = parse(&["--config", path, "--cmdline", "-- quiet"]).unwrap();
    assert_eq!(cli.run.cmdline.as_deref(), Some("-- quiet"));
    std::fs::remove_file(f).unwrap();
}

#[test]
fn unknown_keys_are_named() {
    let f = file("unknown", "kernel = \"/k\"\nmemroy = \"1G\"\n");
    let e = parse(&["--config", f.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("unknown key 'memroy'"), "{e}");
    assert!(
        e.contains("the keys are the long command-line options: kernel, initrd"),
        "{e}"
    );
    let g = file("underscore", "no_reboot = true\n");
    let e = parse(&["--config", g.to_str().unwrap()]).unwrap_err();
    assert!(
        e.contains("unknown key 'no_reboot' (did you mean 'no-reboot'?)"),
        "{e}"
    );
    let h = file("nested", "config = \"/other.toml\"\n");
    let e = parse(&["--config", h.to_str().unwrap()]).unwrap_err();
    assert!(
        e.contains("unknown key 'config' (a config file cannot name another one)"),
        "{e}"
    );
    for p in [f, g, h] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn wrong_types_name_the_key() {
    for (text, needle) in [
        (
            "cpus = \"many\"",
            "key 'cpus': invalid value 'many' for '--cpus <N>'",
        ),
        ("cpus = [1, 2]", "key 'cpus': takes one value, not a list"),
        (
            "no-reboot = \"yes\"",
            "key 'no-reboot': takes true or false",
        ),
        (
            "memory = true",
            "key 'memory': takes a string or a number, not true",
        ),
        (
            "vfio = [true]",
            "key 'vfio': takes a string or a number, not true",
        ),
        (
            "[vfio]\ndevice = \"01:00.0\"",
            "key 'vfio': takes a string or a number, not a table",
        ),
        ("verbose = 99", "key 'verbose': takes a count from 0 to 8"),
        ("timeout = -5", "key 'timeout': invalid value '-5'"),
    ] {
        let f = file("types", &format!("kernel = \"/k\"\n{text}\n"));
        let e = parse(&["--config", f.to_str().unwrap()]).unwrap_err();
        assert!(e.contains(needle), "{text}: {e}");
        assert!(e.contains(f.to_str().unwrap()), "{text}: {e}");
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn file_problems() {
    let e = parse(&["--config", "/nonexistent/ovmm.toml"]).unwrap_err();
    assert!(
        e.starts_with("cannot read the config file /nonexistent/ovmm.toml"),
        "{e}"
    );
    let f = file("syntax", "kernel = \"/k\"\nmemory = 2G\n");
    let e = parse(&["--config", f.to_str().unwrap()]).unwrap_err();
    assert!(e.contains("is not valid TOML: line 2, column 10"), "{e}");
    std::fs::remove_file(f).unwrap();
}

#[test]
fn without_a_config_file_nothing_changes() {
    let cmd = Cli::command();
    let a = args(&["--kernel", "/k", "--memory", "1G"]);
    assert_eq!(expand(&cmd, a.clone()).unwrap(), a);
    let host = args(&["host", "list"]);
    assert_eq!(expand(&cmd, host.clone()).unwrap(), host);
    // A kernel given only in the file satisfies clap's required --kernel.
    let f = file("kernel-only", "kernel = \"/k\"\n");
    assert!(parse(&["--config", f.to_str().unwrap()]).is_ok());
    assert!(parse(&[]).is_err());
    std::fs::remove_file(f).unwrap();
}

#[test]
fn the_example_file_is_accepted() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../resources/ovmm.example.toml"
    );
    let (cli, _) = parse(&["--config", example]).unwrap();
    let r = cli.run.to_request();
    assert!(!r.kernel.as_os_str().is_empty());
    assert!(cli.run.api_socket.is_some());
}
