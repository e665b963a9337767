//! Readable text for `ovmm host list` and `ovmm host check` (aligned columns, one finding per
//! line with its code, then what was read and the fix).

use std::fmt::Write;

use super::check::{Report, Severity};
use super::list::Listing;
use super::pci::Kind;

/// The listing as aligned text.
pub fn list_text(l: &Listing) -> String {
    if !l.iommu {
        return "No IOMMU groups: the IOMMU is off, so nothing can be passed through.\n\
                `ovmm host check <device>` says how to turn it on.\n"
            .into();
    }
    let devs = l.groups.iter().flat_map(|g| g.devices.iter());
    let class_w = devs.clone().map(|d| d.class_name.len()).max().unwrap_or(0);
    let drv_w = devs
        .map(|d| d.driver.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for g in &l.groups {
        let _ = write!(out, "IOMMU group {}: {}", g.id, g.status.as_str());
        let _ = writeln!(out, " ({})", g.reason);
        for d in &g.devices {
            let mut notes: Vec<String> = Vec::new();
            if d.bridge {
                let what = match d.kind {
                    Kind::RootPort => "root port",
                    Kind::HostBridge => "host bridge",
                    _ => "bridge",
                };
                notes.push(what.into());
            }
            notes.extend(d.host_use.iter().map(|u| format!("host: {u}")));
            let line = format!(
                "  {}  {}  {:class_w$}  {:drv_w$}  {}",
                d.bdf,
                d.ids,
                d.class_name,
                d.driver.as_deref().unwrap_or("-"),
                notes.join("; ")
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for o in &g.others {
            let _ = writeln!(
                out,
                "  {}  (platform)  {}",
                o.name,
                o.driver.as_deref().unwrap_or("-")
            );
        }
    }
    out
}

/// The check report as text.
pub fn check_text(r: &Report) -> String {
    let mut out = String::new();
    for d in &r.devices {
        let group = d
            .group
            .map_or("no IOMMU group".to_string(), |g| format!("IOMMU group {g}"));
        let _ = writeln!(
            out,
            "{}  {}  {}  driver {}  {group}",
            d.bdf,
            d.ids,
            d.class,
            d.driver.as_deref().unwrap_or("(none)")
        );
    }
    if !r.devices.is_empty() {
        out.push('\n');
    }
    let subj_w = r
        .findings
        .iter()
        .map(|f| f.subject.len())
        .max()
        .unwrap_or(0);
    let code_w = r.findings.iter().map(|f| f.code.len()).max().unwrap_or(0);
    let indent = " ".repeat(subj_w + 2 + 5 + 2 + code_w + 2);
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{:subj_w$}  {:5}  {:code_w$}  {}",
            f.subject,
            f.severity.as_str(),
            f.code,
            f.message
        );
        if !f.read.is_empty() {
            let _ = writeln!(out, "{indent}read: {}", f.read);
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "{indent}fix:  {fix}");
        }
    }
    out.push('\n');
    out.push_str(&verdict(r));
    out.push('\n');
    out
}

fn verdict(r: &Report) -> String {
    let count = |s| r.findings.iter().filter(|f| f.severity == s).count();
    let (todo, errors, warns) = (
        count(Severity::Todo),
        count(Severity::Error),
        count(Severity::Warn),
    );
    if r.ready {
        return format!(
            "ready ({warns} warning{})",
            if warns == 1 { "" } else { "s" }
        );
    }
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!(
            "{errors} error{} to fix by hand",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if todo > 0 {
        let devs: Vec<String> = r.devices.iter().map(|d| d.bdf.to_string()).collect();
        parts.push(format!(
            "{todo} step{} that `ovmm host bind {}` does",
            if todo == 1 { "" } else { "s" },
            devs.join(" ")
        ));
    }
    format!("not ready: {}", parts.join(", "))
}
