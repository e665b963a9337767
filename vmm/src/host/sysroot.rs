//! The system root every host read and write goes through: `/` in production, a temporary
//! tree in tests. Paths are given relative to it (`sys/bus/pci/devices/...`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A root directory holding `sys/`, `proc/`, `dev/` and `run/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysRoot {
    root: PathBuf,
}

impl Default for SysRoot {
    fn default() -> SysRoot {
        SysRoot::host()
    }
}

impl SysRoot {
    /// The real system: `/`.
    pub fn host() -> SysRoot {
        SysRoot::new("/")
    }

    /// A system rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> SysRoot {
        SysRoot { root: root.into() }
    }

    /// Whether this is the real system.
    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The absolute path of `rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// `rel` as users know it on the real system (`/sys/...`), for messages.
    pub fn shown(&self, rel: &str) -> String {
        format!("/{}", rel.trim_start_matches('/'))
    }

    /// The file's content with surrounding whitespace removed.
    pub fn read(&self, rel: &str) -> io::Result<String> {
        fs::read_to_string(self.path(rel)).map(|s| s.trim().to_string())
    }

    /// The file's content, trimmed, or `None` when it cannot be read.
    pub fn read_opt(&self, rel: &str) -> Option<String> {
        self.read(rel).ok()
    }

    /// The file's raw bytes, or `None` when it cannot be read.
    pub fn read_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        fs::read(self.path(rel)).ok()
    }

    /// The file's content as a hexadecimal number (`0x8086`), or `None`.
    pub fn read_hex(&self, rel: &str) -> Option<u64> {
        let s = self.read_opt(rel)?;
        u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
    }

    /// The last component of a symlink's target: the driver behind `driver`, the group
    /// number behind `iommu_group`.
    pub fn link_name(&self, rel: &str) -> Option<String> {
        let target = fs::read_link(self.path(rel)).ok()?;
        target.file_name()?.to_str().map(str::to_string)
    }

    /// The fully resolved path of `rel` (following every link), or `None`.
    pub fn canonical(&self, rel: &str) -> Option<PathBuf> {
        fs::canonicalize(self.path(rel)).ok()
    }

    /// Whether `rel` exists (following links).
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// The names in directory `rel`, sorted; empty when it cannot be read.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(self.path(rel)) {
            Ok(dir) => dir
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Writes `data` to an existing file in one `write` call, as sysfs wants (opened like a
    /// shell's `>`: truncating, which sysfs ignores; never creating).
    pub fn write(&self, rel: &str, data: &str) -> io::Result<()> {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(rel))?;
        f.write_all(data.as_bytes())
    }

    /// Metadata of `rel` (following links).
    pub fn metadata(&self, rel: &str) -> io::Result<fs::Metadata> {
        fs::metadata(self.path(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_links_and_lists_under_the_root() {
        let dir = std::env::temp_dir().join(format!("ovmm-sysroot-{}", std::process::id()));
        let root = SysRoot::new(&dir);
        fs::create_dir_all(root.path("sys/kernel/iommu_groups/12/devices")).unwrap();
        fs::create_dir_all(root.path("sys/kernel/iommu_groups/3")).unwrap();
        fs::write(root.path("sys/vendor"), "0x8086\n").unwrap();
        std::os::unix::fs::symlink(
            "../../kernel/iommu_groups/12",
            root.path("sys/kernel/iommu_groups/link"),
        )
        .unwrap();
        assert_eq!(root.read("sys/vendor").unwrap(), "0x8086");
        assert_eq!(root.read_hex("sys/vendor"), Some(0x8086));
        assert_eq!(root.read_opt("sys/missing"), None);
        assert_eq!(
            root.link_name("sys/kernel/iommu_groups/link").as_deref(),
            Some("12")
        );
        assert_eq!(root.list("sys/kernel/iommu_groups"), ["12", "3", "link"]);
        assert!(root.list("sys/nothing").is_empty());
        assert_eq!(root.shown("sys/vendor"), "/sys/vendor");
        root.write("sys/vendor", "x").unwrap();
        assert_eq!(root.read("sys/vendor").unwrap(), "x");
        assert!(
            root.write("sys/absent", "x").is_err(),
            "write must not create files"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
