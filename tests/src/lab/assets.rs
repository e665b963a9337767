//! Lab assets: checks for the host tools, then runs the scripts in `resources/lab/<arch>/` (or,
//! when the architecture has no file of that name, the shared one in `resources/lab/common/`)
//! that fetch the Debian kernel and busybox, build the guest and L1 initramfs images and the QEMU
//! payload, and builds (or takes) the static `ovmm` binary that goes into L1.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::arch::Arch;
use super::LabError;

/// Where the lab's inputs and outputs live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The lab's architecture.
    pub arch: Arch,
    /// The cargo workspace root.
    pub root: PathBuf,
    /// `resources/lab/ARCH`: the architecture's own scripts, L1 files and `arch.env`.
    pub scripts: PathBuf,
    /// `resources/lab/common`: the scripts both labs share.
    pub common: PathBuf,
    /// `resources/lab/scenarios/ARCH`.
    pub scenarios: PathBuf,
    /// `target/lab/ARCH`: downloads and built images (`cargo clean` removes them).
    pub work: PathBuf,
    /// `target/lab/logs`: L1 serial logs.
    pub logs: PathBuf,
    /// The workspace's `target/` folder.
    pub target: PathBuf,
}

impl Paths {
    /// Paths of `arch`'s lab in the workspace this crate belongs to; `CARGO_TARGET_DIR` moves
    /// `target/`.
    pub fn new(arch: Arch) -> Paths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let target = env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let name = arch.name();
        Paths {
            arch,
            scripts: root.join("resources/lab").join(name),
            common: root.join("resources/lab/common"),
            scenarios: root.join("resources/lab/scenarios").join(name),
            work: target.join("lab").join(name),
            logs: target.join("lab/logs"),
            target,
            root,
        }
    }
}

/// Host programs the lab needs besides QEMU, and the Debian package that has each.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("cpio", "cpio"),
    ("depmod", "kmod"),
    ("modprobe", "kmod"),
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("dpkg", "dpkg"),
    ("ldd", "libc-bin"),
    ("gcc", "gcc"),
    ("make", "make"),
    ("flock", "util-linux"),
    ("strip", "binutils"),
    ("mkfs.ext4", "e2fsprogs"),
    ("gzip", "gzip"),
];

/// Fails with one message naming every missing host tool and how to install it.
pub fn check_host_tools(paths: &Paths) -> Result<(), LabError> {
    let mut tools = vec![paths.arch.qemu()];
    tools.extend_from_slice(HOST_TOOLS);
    tools.extend_from_slice(paths.arch.host_tools());
    let missing = missing_tools(&tools, &script_path());
    if missing.is_empty() {
        return Ok(());
    }
    Err(LabError::Missing {
        what: missing.join(", "),
        how: format!(
            "run `sudo {}`",
            paths.root.join("resources/lab/setup-host.sh").display()
        ),
    })
}

/// The PATH the scripts get: the caller's, plus the sbin folders where Debian keeps depmod.
pub fn script_path() -> String {
    let mut path = env::var("PATH").unwrap_or_default();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !path.split(':').any(|p| p == extra) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(extra);
        }
    }
    path
}

/// The `(tool, package)` pairs not found as files in the folders of `path`, as
/// "tool (Debian package pkg)".
pub fn missing_tools(tools: &[(&str, &str)], path: &str) -> Vec<String> {
    tools
        .iter()
        .filter(|(tool, _)| {
            !path
                .split(':')
                .any(|dir| Path::new(dir).join(tool).is_file())
        })
        .map(|(tool, pkg)| format!("{tool} (Debian package {pkg})"))
        .collect()
}

/// The script called `name`: the architecture's own (`resources/lab/ARCH/NAME`) if it has one,
/// else the shared one (`resources/lab/common/NAME`).
pub fn script(paths: &Paths, name: &str) -> PathBuf {
    let own = paths.scripts.join(name);
    if own.exists() {
        own
    } else {
        paths.common.join(name)
    }
}

/// Runs the script `name` (see [`script`]) with `ARGS...` and `LAB_ARCH_DIR` naming the
/// architecture's folder; its output is returned, or becomes the error.
pub fn run_script(paths: &Paths, name: &str, args: &[&Path]) -> Result<String, LabError> {
    let path = script(paths, name);
    let output = Command::new("bash")
        .arg(&path)
        .args(args)
        .env("PATH", script_path())
        .env("LAB_ARCH_DIR", &paths.scripts)
        .output()
        .map_err(|source| LabError::Io {
            what: format!("starting {}", path.display()),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(LabError::Step {
            step: format!("{} {}", path.display(), join_paths(args)),
            detail: format!("{}\n{}", output.status, tail(&text, 30)),
        })
    }
}

fn join_paths(args: &[&Path]) -> String {
    args.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Fetched and built inputs of an L1 boot.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The Debian kernel (L1 and L2 both run it).
    pub kernel: PathBuf,
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub kernel_release: String,
    /// The static ovmm for L1, when this run uses ovmm.
    pub ovmm: Option<PathBuf>,
    /// The cpio with QEMU for L1, when this run needs it.
    pub qemu_payload: Option<PathBuf>,
}

/// Fetches the kernel and busybox (cached) and builds the guest initramfs; adds the static ovmm
/// and the QEMU payload when asked.
pub fn prepare(paths: &Paths, want_ovmm: bool, want_qemu: bool) -> Result<Prepared, LabError> {
    check_host_tools(paths)?;
    fs::create_dir_all(&paths.work).map_err(|source| LabError::Io {
        what: format!("creating {}", paths.work.display()),
        source,
    })?;
    run_script(paths, "fetch.sh", &[&paths.work])?;
    run_script(paths, "build-guest-initrd.sh", &[&paths.work])?;
    let kernel_release = fs::read_to_string(paths.work.join("dist/kver"))
        .map_err(|source| LabError::Io {
            what: format!("reading {}", paths.work.join("dist/kver").display()),
            source,
        })?
        .trim()
        .to_string();
    let ovmm = if want_ovmm {
        Some(ovmm_binary(paths)?)
    } else {
        None
    };
    let qemu_payload = if want_qemu {
        let out = paths.work.join("qemu-payload.cpio");
        run_script(paths, "qemu-payload.sh", &[&out])?;
        Some(out)
    } else {
        None
    };
    Ok(Prepared {
        kernel: paths.work.join("dist/vmlinuz"),
        kernel_release,
        ovmm,
        qemu_payload,
    })
}

/// The ovmm binary for L1: `$OVMM_BIN` if set, else a static release build made now with
/// `cargo build --release --target <the lab's Rust target>` and `+crt-static`.
pub fn ovmm_binary(paths: &Paths) -> Result<PathBuf, LabError> {
    let bin = match env::var_os("OVMM_BIN") {
        Some(given) => PathBuf::from(given),
        None => build_static_ovmm(paths)?,
    };
    let bytes = fs::read(&bin).map_err(|source| LabError::Io {
        what: format!("reading the ovmm binary {}", bin.display()),
        source,
    })?;
    match elf_is_static(&bytes, paths.arch.elf_machine()) {
        Ok(true) => Ok(bin),
        Ok(false) => Err(LabError::Step {
            step: format!("checking {}", bin.display()),
            detail: "it is dynamically linked (has an ELF interpreter); L1 has no C library, so \
                     build it with RUSTFLAGS='-C target-feature=+crt-static' and --target"
                .into(),
        }),
        Err(why) => Err(LabError::Step {
            step: format!("checking {}", bin.display()),
            detail: why,
        }),
    }
}

fn build_static_ovmm(paths: &Paths) -> Result<PathBuf, LabError> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = paths.arch.rust_target();
    let mut cmd = Command::new(&cargo);
    // A cross build links with the target's gcc unless the caller chose a linker already.
    if let Some((linker, package)) = paths.arch.linker() {
        let var = linker_env_var(target);
        if env::var_os(&var).is_none() {
            let missing = missing_tools(&[(linker, package)], &script_path());
            if !missing.is_empty() {
                return Err(LabError::Missing {
                    what: missing.join(", "),
                    how: format!(
                        "run `sudo {}`",
                        paths.root.join("resources/lab/setup-host.sh").display()
                    ),
                });
            }
            cmd.env(var, linker);
        }
    }
    eprintln!("lab: building the static ovmm (cargo build --release --target {target})");
    let output = cmd
        .args([
            "build",
            "--release",
            "-j",
            "2",
            "--target",
            target,
            "-p",
            "vmm",
            "--bin",
            "ovmm",
        ])
        .current_dir(&paths.root)
        // RUSTFLAGS with --target applies to the target artifacts only, not to build scripts.
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &paths.target)
        .output()
        .map_err(|source| LabError::Io {
            what: format!("starting {}", PathBuf::from(&cargo).display()),
            source,
        })?;
    if !output.status.success() {
        return Err(LabError::Step {
            step: format!("cargo build --release --target {target} -p vmm --bin ovmm"),
            detail: format!(
                "{}\n{}",
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr), 40)
            ),
        });
    }
    Ok(paths.target.join(target).join("release/ovmm"))
}

/// Cargo's linker variable for `target`: `CARGO_TARGET_<TRIPLE>_LINKER`.
pub fn linker_env_var(target: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// `Ok(true)` for a 64-bit ELF executable for `machine` (`e_machine`) without a program
/// interpreter (statically linked, static-pie included), `Ok(false)` when it has one, `Err` when
/// it is not such an ELF file.
pub fn elf_is_static(bytes: &[u8], machine: u16) -> Result<bool, String> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    if u16_at(0x12) != machine {
        return Err(format!(
            "ELF machine {:#x} is not the lab's ({machine:#x})",
            u16_at(0x12)
        ));
    }
    let phoff = bytes[0x20..0x28]
        .try_into()
        .map(u64::from_le_bytes)
        .map_err(|_| "short ELF header".to_string())?;
    let phentsize = usize::from(u16_at(0x36));
    let phnum = usize::from(u16_at(0x38));
    for i in 0..phnum {
        let start = usize::try_from(phoff)
            .ok()
            .and_then(|off| off.checked_add(i * phentsize))
            .filter(|s| s + 4 <= bytes.len())
            .ok_or_else(|| format!("program header {i} lies outside the file"))?;
        let p_type = u32::from_le_bytes([
            bytes[start],
            bytes[start + 1],
            bytes[start + 2],
            bytes[start + 3],
        ]);
        if p_type == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A minimal ELF64 header with `types` as program header types.
    fn elf(machine: u16, types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * types.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    #[test]
    fn static_and_dynamic_elf() {
        assert_eq!(elf_is_static(&elf(0x3e, &[6, 1, 1]), 0x3e), Ok(true));
        assert_eq!(elf_is_static(&elf(0x3e, &[6, 3, 1]), 0x3e), Ok(false));
        assert!(elf_is_static(&elf(0xb7, &[1]), 0x3e)
            .unwrap_err()
            .contains("0xb7"));
        assert_eq!(
            elf_is_static(b"#!/bin/sh\n", 0x3e),
            Err("not an ELF file".into())
        );
        let mut truncated = elf(0x3e, &[1, 1]);
        truncated.truncate(70);
        assert!(elf_is_static(&truncated, 0x3e)
            .unwrap_err()
            .contains("outside the file"));
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_host_test_binary_is_dynamic() {
        // The test binary itself is a normal dynamically linked executable.
        let me = env::current_exe().unwrap();
        assert_eq!(elf_is_static(&fs::read(me).unwrap(), 0x3e), Ok(false));
    }

    #[test]
    fn missing_tools_names_tool_and_package() {
        let tools = [("sh", "dash"), ("no-such-tool-xyz", "xyz-utils")];
        assert_eq!(
            missing_tools(&tools, "/nonexistent:/bin:/usr/bin"),
            ["no-such-tool-xyz (Debian package xyz-utils)"]
        );
        assert_eq!(missing_tools(&tools, "").len(), 2);
    }

    #[test]
    fn linker_variable_follows_cargo_naming() {
        assert_eq!(
            linker_env_var("aarch64-unknown-linux-gnu"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"
        );
    }

    #[test]
    fn scripts_resolve_to_the_arch_then_common() {
        let x86 = Paths::new(Arch::X86_64);
        let arm = Paths::new(Arch::Aarch64);
        // Each architecture has its own stand-in and payload; the runner and builders are shared.
        assert_eq!(script(&x86, "ovmm-qemu"), x86.scripts.join("ovmm-qemu"));
        assert_eq!(
            script(&arm, "qemu-payload.sh"),
            arm.scripts.join("qemu-payload.sh")
        );
        for name in [
            "lib.sh",
            "fetch.sh",
            "build-l1-initrd.sh",
            "guest-init",
            "l1-init",
        ] {
            for p in [&x86, &arm] {
                let s = script(p, name);
                assert_eq!(s, p.common.join(name));
                assert!(s.is_file(), "{} is missing", s.display());
            }
        }
        for p in [&x86, &arm] {
            for own in [
                "arch.env",
                "l1-modules.txt",
                "demo.sh",
                "ovmm-qemu",
                "qemu-payload.sh",
            ] {
                assert!(
                    p.scripts.join(own).is_file(),
                    "{}/{own} is missing",
                    p.scripts.display()
                );
            }
        }
    }

    #[test]
    fn script_path_has_sbin() {
        let p = script_path();
        assert!(p.split(':').any(|d| d == "/usr/sbin"), "{p}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
