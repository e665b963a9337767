//! What differs between the labs of different guest architectures: folder names, the Rust target
//! of the static ovmm, and the QEMU that plays the host. (Only x86-64 exists so far; an arm64
//! lab adds a variant here and its own `resources/lab/<name>/` scripts.)

/// A lab architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// q35 + nested SVM + intel-iommu, Debian amd64 kernel.
    X86_64,
}

impl Arch {
    /// Folder name under `resources/lab/`, `resources/lab/scenarios/` and `target/lab/`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
        }
    }

    /// Rust target of the static ovmm that runs in L1.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// ELF `e_machine` of binaries for L1.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 0x3e,
        }
    }

    /// The QEMU program for L1 and its Debian package.
    pub fn qemu(self) -> (&'static str, &'static str) {
        match self {
            Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
        }
    }

    /// QEMU arguments for the emulated host's machine: accelerator, board, CPU, IOMMU.
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &[
                "-accel",
                "tcg",
                "-M",
                "q35,kernel-irqchip=split",
                "-cpu",
                "EPYC,+svm,+npt",
                "-device",
                "intel-iommu,intremap=on,caching-mode=on",
            ],
        }
    }

    /// L1's kernel command line (quiet: kernel messages could split the harness's marker lines;
    /// the runner shows L1's dmesg for failed scenarios instead).
    pub fn kernel_append(self) -> &'static str {
        match self {
            Arch::X86_64 => "console=ttyS0 loglevel=1 intel_iommu=on panic=-1",
        }
    }
}
