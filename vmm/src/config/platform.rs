//! Platform options checked at validation: the 64-bit PCI window size
//! (`--pci-mmio64-size`) and user ACPI tables (`--acpi-table`).

use std::path::{Path, PathBuf};

use super::{parse_size, ConfigError};

/// A user ACPI table (`--acpi-table FILE`), read and checked at validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTableFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Its signature (`SSDT`, ...).
    pub signature: String,
    /// The whole table.
    pub bytes: Vec<u8>,
}

/// Most bytes of user ACPI tables (ovmm reserves 128 KiB for all tables).
pub const MAX_ACPI_TABLE_BYTES: u64 = 64 << 10;

/// `--pci-mmio64-size`: a size of at least 1 GiB, in whole GiB (the window's granule).
/// Whether the guest's address space has room is known only from KVM, at build time.
pub(super) fn parse_mmio64_size(value: &str) -> Result<u64, ConfigError> {
    let size = parse_size(value)?;
    let problem = |problem: &str| ConfigError::BadMmio64Size {
        value: value.to_string(),
        problem: problem.to_string(),
    };
    if size < 1 << 30 || size % (1 << 30) != 0 {
        return Err(problem(
            "give a whole number of GiB, at least 1G (e.g. 64G)",
        ));
    }
    Ok(size)
}

/// Reads and checks every `--acpi-table` file (x86 only): whole tables with valid headers
/// and checksums, signatures ovmm does not generate, at most [`MAX_ACPI_TABLE_BYTES`] in all.
pub(super) fn read_acpi_tables(paths: &[PathBuf]) -> Result<Vec<AcpiTableFile>, ConfigError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let problem = |path: &Path, problem: String| ConfigError::AcpiTable {
        path: path.to_path_buf(),
        problem,
    };
    if !cfg!(target_arch = "x86_64") {
        return Err(problem(
            &paths[0],
            "ACPI tables are for x86_64 guests; this ovmm describes the platform with a device tree".to_string(),
        ));
    }
    let mut total = 0u64;
    let mut tables = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes =
            std::fs::read(path).map_err(|e| problem(path, format!("cannot read it: {e}")))?;
        total += bytes.len() as u64;
        if total > MAX_ACPI_TABLE_BYTES {
            return Err(problem(
                path,
                format!("user tables add up to {total} bytes, more than the {MAX_ACPI_TABLE_BYTES} ovmm has room for"),
            ));
        }
        tables.push(bytes);
    }
    let signatures =
        check_acpi_tables(&tables).map_err(|(index, why)| problem(&paths[index], why))?;
    Ok(paths
        .iter()
        .zip(signatures)
        .zip(tables)
        .map(|((path, signature), bytes)| AcpiTableFile {
            path: path.clone(),
            signature,
            bytes,
        })
        .collect())
}

/// The platform's rules for extra tables (ovmm always describes a PCI root, so MCFG is its own).
#[cfg(target_arch = "x86_64")]
fn check_acpi_tables(tables: &[Vec<u8>]) -> Result<Vec<String>, (usize, String)> {
    use arch::x86_64::acpi::{check_extra_tables, AcpiError};
    check_extra_tables(tables, true).map_err(|e| match e {
        AcpiError::InvalidExtraTable {
            index,
            signature,
            problem,
        } => (index, format!("{signature} table: {problem}")),
        other => (0, other.to_string()),
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn check_acpi_tables(_: &[Vec<u8>]) -> Result<Vec<String>, (usize, String)> {
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("ovmm-platform-{}-{name}", std::process::id()));
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn mmio64_sizes() {
        assert_eq!(parse_mmio64_size("64G").unwrap(), 64 << 30);
        assert_eq!(parse_mmio64_size("1T").unwrap(), 1 << 40);
        for bad in ["512M", "1536M", "0"] {
            let e = parse_mmio64_size(bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "--pci-mmio64-size {bad}: give a whole number of GiB, at least 1G (e.g. 64G)"
                )
            );
        }
        assert!(matches!(
            parse_mmio64_size("lots"),
            Err(ConfigError::BadSize(_))
        ));
    }

    /// A table with a valid header: `len` bytes, checksum fixed.
    fn table(signature: &[u8; 4], len: usize) -> Vec<u8> {
        let mut t = vec![0u8; len];
        t[..4].copy_from_slice(signature);
        t[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        t[8] = 2;
        t[10..16].copy_from_slice(b"USER  ");
        let sum = t.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        t[9] = 0u8.wrapping_sub(sum);
        t
    }

    #[test]
    #[cfg(not(target_arch = "x86_64"))]
    fn acpi_tables_are_refused_without_acpi() {
        let path = temp_file("arm.aml", &table(b"SSDT", 60));
        let e = read_acpi_tables(&[path]).unwrap_err().to_string();
        assert!(e.contains("ACPI tables are for x86_64 guests"), "{e}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn acpi_table_files() {
        let ssdt = temp_file("ssdt.aml", &table(b"SSDT", 60));
        let tables = read_acpi_tables(&[ssdt.clone(), ssdt.clone()]).unwrap();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[1].signature, "SSDT");
        assert_eq!(tables[1].bytes.len(), 60);

        let mut bad_sum = table(b"SSDT", 60);
        bad_sum[40] ^= 1;
        let cases: [(&str, Vec<u8>, &str); 5] = [
            (
                "sum.aml",
                bad_sum,
                "SSDT table: bytes sum to 0x01, not 0 (bad checksum)",
            ),
            (
                "short.aml",
                b"SSDT\x10".to_vec(),
                "shorter than an ACPI header",
            ),
            (
                "dsdt.aml",
                table(b"DSDT", 40),
                "DSDT table: ovmm generates this table itself",
            ),
            (
                "mcfg.aml",
                table(b"MCFG", 60),
                "MCFG table: ovmm generates this table itself",
            ),
            (
                "text.aml",
                b"DefinitionBlock (\"\", \"SSDT\", 2, \"\", \"\", 1) {}".to_vec(),
                "header length",
            ),
        ];
        for (name, bytes, needle) in cases {
            let path = temp_file(name, &bytes);
            let e = read_acpi_tables(&[ssdt.clone(), path.clone()])
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("--acpi-table '{}': ", path.display()))
                    && e.contains(needle),
                "{name}: {e}"
            );
            std::fs::remove_file(path).unwrap();
        }
        let big = temp_file("big.aml", &table(b"SSDT", 40 << 10));
        let e = read_acpi_tables(&[big.clone(), big.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than the 65536 ovmm has room for"), "{e}");
        let e = read_acpi_tables(&["/nonexistent.aml".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--acpi-table '/nonexistent.aml': cannot read it:"),
            "{e}"
        );
        std::fs::remove_file(big).unwrap();
        std::fs::remove_file(ssdt).unwrap();
    }
}
