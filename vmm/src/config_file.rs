//! `--config FILE.toml`: every command-line VM option can come from a file.
//!
//! The file is flat: one key per option, named as the long option without its dashes
//! (`memory = "2G"`, `no-reboot = true`, `vfio = ["01:00.0", "02:00.0,intx=on"]`). The keys
//! are not listed here: [`expand`] derives them from clap's own definition of the command
//! line, so an option added to [`crate::cli`] works in the file with no extra code. The file
//! becomes command-line arguments placed *before* the real ones; clap parses the result with
//! `args_override_self`, so a single-value option given on the command line wins, and a
//! repeatable option (`--vfio`) given on the command line replaces the file's whole list.
//! Unknown keys, tables and values of the wrong type are errors that name the key.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The option that names the file (it cannot appear in the file itself).
const CONFIG_KEY: &str = "config";
/// Options that are not VM settings.
const NOT_KEYS: [&str; 3] = ["help", "version", CONFIG_KEY];

/// A config file that cannot be used. Each message names the file and, where it applies, the
/// key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("the config file {} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key that is no option.
    #[error("config file {}: unknown key '{key}'{hint}; the keys are the long command-line options: {known}", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// ", did you mean ..." or nothing.
        hint: String,
        /// Every accepted key.
        known: String,
    },
    /// A value of the wrong type or one the option refuses.
    #[error("config file {}: key '{key}': {problem}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with the value.
        problem: String,
    },
}

/// The arguments of `args` (a whole command line, program name first) with the options of
/// its `--config` file, if any, inserted before the command line's own. A command line clap
/// cannot parse, or one for a subcommand, comes back unchanged (clap reports its errors).
pub fn expand(cmd: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let Some(path) = config_path(cmd, &args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigFileError::Syntax {
                path: path.clone(),
                message: syntax_message(&text, &e),
            })?;
    let mut cmd = cmd.clone();
    cmd.build();
    let on_command_line = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&args)
        .ok();
    let mut file_args = Vec::new();
    for (key, value) in &table {
        let arg = find_key(&cmd, &path, key)?;
        let given_here = on_command_line.as_ref().is_some_and(|m| {
            m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
        });
        if given_here && matches!(arg.get_action(), ArgAction::Append) {
            log::debug!("--{key} on the command line replaces the config file's list");
            continue;
        }
        let bad = |problem: String| ConfigFileError::BadValue {
            path: path.clone(),
            key: key.clone(),
            problem,
        };
        for value in arguments(arg, key, value).map_err(bad)? {
            if let Some(v) = value.strip_prefix(&format!("--{key}=")) {
                check_value(arg, v).map_err(&bad)?;
            }
            file_args.push(OsString::from(value));
        }
    }
    let mut out = Vec::with_capacity(args.len() + file_args.len());
    let mut rest = args.into_iter();
    out.extend(rest.next());
    out.extend(file_args);
    out.extend(rest);
    Ok(out)
}

/// "line L, column C: what" for a TOML error.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what.to_string(),
    }
}

/// The `--config` value of a command line, if it has one.
fn config_path(cmd: &Command, args: &[OsString]) -> Option<PathBuf> {
    let matches = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    if matches.subcommand().is_some() {
        return None;
    }
    let raw = matches.get_raw(CONFIG_KEY)?.next()?;
    Some(PathBuf::from(raw))
}

/// Every option the file may set: the long options that are not [`NOT_KEYS`].
fn keys(cmd: &Command) -> impl Iterator<Item = (&str, &Arg)> {
    cmd.get_arguments().filter_map(|a| {
        a.get_long()
            .filter(|l| !NOT_KEYS.contains(l))
            .map(|l| (l, a))
    })
}

fn find_key<'a>(cmd: &'a Command, path: &Path, key: &str) -> Result<&'a Arg, ConfigFileError> {
    if let Some((_, arg)) = keys(cmd).find(|(l, _)| *l == key) {
        return Ok(arg);
    }
    let dashed = key.replace('_', "-");
    let hint = if key == CONFIG_KEY {
        " (a config file cannot name another one)".to_string()
    } else if keys(cmd).any(|(l, _)| l == dashed) {
        format!(" (did you mean '{dashed}'?)")
    } else {
        String::new()
    };
    Err(ConfigFileError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        hint,
        known: keys(cmd).map(|(l, _)| l).collect::<Vec<_>>().join(", "),
    })
}

/// The command-line arguments a key's value stands for.
fn arguments(arg: &Arg, key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    use toml::Value as V;
    match arg.get_action() {
        ArgAction::SetTrue => match value {
            V::Boolean(true) => Ok(vec![format!("--{key}")]),
            V::Boolean(false) => Ok(Vec::new()),
            other => Err(format!("takes true or false, not {}", describe(other))),
        },
        ArgAction::Count => match value {
            V::Integer(n) if (0..=8).contains(n) => Ok(vec![format!("--{key}"); *n as usize]),
            other => Err(format!(
                "takes a count from 0 to 8 (how many times the option is given), not {}",
                describe(other)
            )),
        },
        ArgAction::Set => match value {
            V::Array(_) => Err("takes one value, not a list".to_string()),
            v => Ok(vec![format!("--{key}={}", scalar(v)?)]),
        },
        ArgAction::Append => match value {
            V::Array(items) => items
                .iter()
                .map(|v| scalar(v).map(|s| format!("--{key}={s}")))
                .collect(),
            v => Ok(vec![format!("--{key}={}", scalar(v)?)]),
        },
        _ => Err("cannot be set from a config file".to_string()),
    }
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        other => Err(format!(
            "takes a string or a number, not {}",
            describe(other)
        )),
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(_) => "a table (the file is flat: one key per option)".to_string(),
        toml::Value::Array(_) => "a list".to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{} {other}", other.type_str()),
    }
}

/// Runs the option's own value parser (on a command with only that option), so a bad value
/// is reported against the file's key.
fn check_value(arg: &Arg, value: &str) -> Result<(), String> {
    let Some(long) = arg.get_long() else {
        return Ok(());
    };
    let single = Command::new("ovmm")
        .no_binary_name(true)
        .arg(arg.clone().required(false));
    single
        .try_get_matches_from([OsString::from(format!("--{long}={value}"))])
        .map(|_| ())
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        })
}

/// The options a parsed command line gave (file-derived ones included), by long name, for
/// `GET /vm`: `true` for flags, a number for counts, a string for single values and a list
/// for repeatable options. Defaults and environment values are left out.
pub fn options_view(cmd: &Command, matches: &ArgMatches) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let id = arg.get_id().as_str();
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let raw: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = match arg.get_action() {
            ArgAction::SetTrue => serde_json::Value::Bool(true),
            ArgAction::Count => serde_json::json!(matches.get_count(id)),
            ArgAction::Append => serde_json::json!(raw),
            _ => match raw.into_iter().next() {
                Some(v) => serde_json::Value::String(v),
                None => continue,
            },
        };
        out.insert(long.to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests;
