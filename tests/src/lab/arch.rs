//! What differs between the labs of different guest architectures: folder names, the Rust target
//! of the static ovmm, the QEMU that plays the host, its board, default CPU and kernel command
//! line, and the extra host tools the lab needs. The scripts' own differences live in
//! `resources/lab/<name>/arch.env`.

/// A lab architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// q35 + nested SVM + intel-iommu, Debian amd64 kernel.
    X86_64,
    /// virt with EL2 (`virtualization=on`), GICv3 + ITS and an SMMUv3, Debian arm64 kernel.
    Aarch64,
}

impl Arch {
    /// Every lab architecture.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// Folder name under `resources/lab/`, `resources/lab/scenarios/` and `target/lab/`; also
    /// what `lab --arch` takes.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The architecture called `name` (`x86`/`x86_64`, `arm64`/`aarch64`).
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "x86" | "x86_64" => Some(Arch::X86_64),
            "arm64" | "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Rust target of the static ovmm that runs in L1.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The C compiler that links the static ovmm for [`Arch::rust_target`] on an x86_64 host,
    /// and its Debian package (`None`: cargo's default linker).
    pub fn linker(self) -> Option<(&'static str, &'static str)> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some(("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")),
        }
    }

    /// binutils' `strip` for binaries of this architecture.
    pub fn strip(self) -> &'static str {
        match self {
            Arch::X86_64 => "strip",
            Arch::Aarch64 => "aarch64-linux-gnu-strip",
        }
    }

    /// ELF `e_machine` of binaries for L1.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 0x3e,
            Arch::Aarch64 => 0xb7,
        }
    }

    /// The QEMU program for L1 and its Debian package.
    pub fn qemu(self) -> (&'static str, &'static str) {
        match self {
            Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
            Arch::Aarch64 => ("qemu-system-aarch64", "qemu-system-arm"),
        }
    }

    /// QEMU arguments for the emulated host's machine: accelerator, board, IOMMU (the CPU is
    /// [`Arch::default_cpu`] unless a scenario asks for another).
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &[
                "-accel",
                "tcg",
                "-M",
                "q35,kernel-irqchip=split",
                "-device",
                "intel-iommu,intremap=on,caching-mode=on",
            ],
            // highmem (on by default) gives the 512 GiB PCI window large BARs need.
            Arch::Aarch64 => &[
                "-accel",
                "tcg",
                "-M",
                "virt,virtualization=on,gic-version=3,iommu=smmuv3",
            ],
        }
    }

    /// L1's CPU model: nested SVM on x86; on arm64 `max` without pointer authentication (whose
    /// emulation makes everything about 4 times slower), which gives KVM VHE mode.
    pub fn default_cpu(self) -> &'static str {
        match self {
            Arch::X86_64 => "EPYC,+svm,+npt",
            Arch::Aarch64 => "max,pauth=off",
        }
    }

    /// The benchmark's reference VMM in L1 (`QEMU_BENCH` in `arch.env`), for its table.
    pub fn bench_qemu_label(self) -> &'static str {
        match self {
            Arch::X86_64 => "QEMU microvm",
            Arch::Aarch64 => "QEMU virt",
        }
    }

    /// L1's kernel command line (quiet: kernel messages could split the harness's marker lines;
    /// the runner shows L1's dmesg for failed scenarios instead).
    pub fn kernel_append(self) -> &'static str {
        match self {
            Arch::X86_64 => "console=ttyS0 loglevel=1 intel_iommu=on panic=-1",
            Arch::Aarch64 => "console=ttyAMA0 loglevel=1 panic=-1",
        }
    }

    /// Host programs this lab needs besides the common ones, with their Debian packages: the
    /// cross compiler (guest driver), binutils' readelf (the QEMU payload).
    pub fn host_tools(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Arch::X86_64 => &[("gcc-12", "gcc-12")],
            Arch::Aarch64 => &[
                ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
                ("aarch64-linux-gnu-gcc-12", "gcc-12-aarch64-linux-gnu"),
                ("aarch64-linux-gnu-strip", "binutils-aarch64-linux-gnu"),
                ("readelf", "binutils"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.name()), Some(arch));
        }
        assert_eq!(Arch::from_name("aarch64"), Some(Arch::Aarch64));
        assert_eq!(Arch::from_name("x86_64"), Some(Arch::X86_64));
        assert_eq!(Arch::from_name("riscv64"), None);
    }

    #[test]
    fn arm64_lab_has_el2_gicv3_and_smmu() {
        let m = Arch::Aarch64.machine_args().join(" ");
        assert_eq!(
            m,
            "-accel tcg -M virt,virtualization=on,gic-version=3,iommu=smmuv3"
        );
        assert_eq!(Arch::Aarch64.default_cpu(), "max,pauth=off");
        assert_eq!(Arch::Aarch64.elf_machine(), 0xb7);
        assert_eq!(Arch::Aarch64.rust_target(), "aarch64-unknown-linux-gnu");
    }
}
