//! `--dump-acpi DIR` (x86): writes every ACPI table the guest would get and exits without
//! booting it.
//!
//! The VM is built as a boot builds it (KVM, memory, devices, the PCI segment with its
//! passed-through devices, so the PCI windows and `_PRT` are the real ones); then each table
//! is written as `DIR/<signature>.dat` in lower case, the names `acpidump -b` uses
//! (`dsdt.dat`, `facp.dat`, `apic.dat`, `mcfg.dat`, `xsdt.dat`, `rsdp.dat`; a signature that
//! appears more than once gets `1`, `2`, ... after it, as `ssdt1.dat`). `iasl -d dsdt.dat`
//! disassembles them.

use std::path::{Path, PathBuf};

use crate::config::VmConfig;
use crate::vm::BuildError;

/// Why the tables could not be dumped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Building the VM failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// This architecture has no ACPI tables.
    #[error("--dump-acpi is for x86_64 guests; arm64 guests get a device tree")]
    Unsupported,
}

/// File names for tables with these signatures, in order (`acpidump -b` style).
pub fn file_names(signatures: &[&str]) -> Vec<String> {
    signatures
        .iter()
        .enumerate()
        .map(|(i, sig)| {
            let lower = sig.to_lowercase();
            let total = signatures.iter().filter(|s| *s == sig).count();
            if total == 1 {
                format!("{lower}.dat")
            } else {
                let nth = signatures[..=i].iter().filter(|s| *s == sig).count();
                format!("{lower}{nth}.dat")
            }
        })
        .collect()
}

/// Builds the VM of `config`, writes its tables into `dir` (created if needed) and returns
/// the files written.
#[cfg(target_arch = "x86_64")]
pub fn dump(config: &VmConfig, dir: &Path) -> Result<Vec<PathBuf>, DumpError> {
    let vm = crate::vm::build_unstarted(config)?;
    let tables = crate::vm::acpi_tables(config, vm.pci())?;
    drop(vm);
    write_tables(dir, &tables)
}

/// Writes `tables` into `dir` (created if needed), `acpidump -b` style; returns the files.
#[cfg(target_arch = "x86_64")]
pub fn write_tables(
    dir: &Path,
    tables: &arch::x86_64::acpi::AcpiTables,
) -> Result<Vec<PathBuf>, DumpError> {
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes)
            .map(|()| path.clone())
            .map_err(|source| DumpError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| DumpError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = vec![write(dir.join("rsdp.dat"), &tables.rsdp)?];
    let signatures: Vec<&str> = tables.tables.iter().map(|t| t.signature.as_str()).collect();
    for (table, name) in tables.tables.iter().zip(file_names(&signatures)) {
        written.push(write(dir.join(name), &table.bytes)?);
    }
    Ok(written)
}

/// Not available off x86.
#[cfg(not(target_arch = "x86_64"))]
pub fn dump(_config: &VmConfig, _dir: &Path) -> Result<Vec<PathBuf>, DumpError> {
    Err(DumpError::Unsupported)
}

#[cfg(test)]
mod tests;
