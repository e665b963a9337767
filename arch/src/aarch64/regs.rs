//! The arm64 vCPU registers ovmm sets or reads through `KVM_{GET,SET}_ONE_REG`, as KVM
//! register IDs, and the boot state the arm64 Linux boot protocol asks for.
//!
//! The IDs are part of KVM's ABI (`arch/arm64/include/uapi/asm/kvm.h`) and are spelled out
//! here so they are tested on every host: a core register's ID is its offset in `struct
//! kvm_regs` in 32-bit words; a system register's ID packs its `op0, op1, CRn, CRm, op2`
//! encoding.

/// `KVM_REG_ARM64`: the architecture field of a register ID.
const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
/// `KVM_REG_SIZE_U64`: a 64-bit register.
const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
/// `KVM_REG_ARM_CORE`: the core register group (`struct kvm_regs`).
const KVM_REG_ARM_CORE: u64 = 0x0010_0000;
/// `KVM_REG_ARM64_SYSREG`: the system register group.
const KVM_REG_ARM64_SYSREG: u64 = 0x0013_0000;

/// Offset of `regs.pc` in `struct kvm_regs` (31 general registers, then `sp`, then `pc`).
const PC_OFFSET: u64 = 32 * 8;
/// Offset of `regs.pstate` in `struct kvm_regs`.
const PSTATE_OFFSET: u64 = 33 * 8;

/// PSTATE at boot: EL1 with SP_EL1 (EL1h), and D, A, I, F masked, as booting.rst requires.
pub const BOOT_PSTATE: u64 = PSR_D_BIT | PSR_A_BIT | PSR_I_BIT | PSR_F_BIT | PSR_MODE_EL1H;
const PSR_MODE_EL1H: u64 = 0x5;
const PSR_F_BIT: u64 = 1 << 6;
const PSR_I_BIT: u64 = 1 << 7;
const PSR_A_BIT: u64 = 1 << 8;
const PSR_D_BIT: u64 = 1 << 9;

/// The ID of a core register at byte offset `offset` in `struct kvm_regs`.
const fn core_reg(offset: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / 4)
}

/// The ID of system register `op0, op1, CRn, CRm, op2`.
const fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | KVM_REG_ARM64_SYSREG
        | (op0 << 14)
        | (op1 << 11)
        | (crn << 7)
        | (crm << 3)
        | op2
}

/// General register `xN` (N in 0..=30).
pub const fn x_reg(n: u64) -> u64 {
    core_reg(n * 8)
}

/// The program counter.
pub const PC: u64 = core_reg(PC_OFFSET);
/// The processor state.
pub const PSTATE: u64 = core_reg(PSTATE_OFFSET);
/// MPIDR_EL1 (op0 3, op1 0, CRn 0, CRm 0, op2 5): the vCPU's affinity, for the device tree.
pub const MPIDR_EL1: u64 = sys_reg(3, 0, 0, 0, 5);

/// The registers the boot vCPU starts with: `pc` at the Image, `x0` the DTB address,
/// `x1`-`x3` zero, `pstate` [`BOOT_PSTATE`].
pub fn boot_regs(entry: u64, fdt: u64) -> [(u64, u64); 6] {
    [
        (PSTATE, BOOT_PSTATE),
        (x_reg(0), fdt),
        (x_reg(1), 0),
        (x_reg(2), 0),
        (x_reg(3), 0),
        (PC, entry),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_ids_match_kvm() {
        // The values KVM and QEMU use (e.g. in `KVM_GET_REG_LIST` output).
        assert_eq!(x_reg(0), 0x6030_0000_0010_0000);
        assert_eq!(x_reg(3), 0x6030_0000_0010_0006);
        assert_eq!(PC, 0x6030_0000_0010_0040);
        assert_eq!(PSTATE, 0x6030_0000_0010_0042);
        assert_eq!(MPIDR_EL1, 0x6030_0000_0013_c005);
    }

    #[test]
    fn boot_state() {
        assert_eq!(BOOT_PSTATE, 0x3c5);
        let regs = boot_regs(0x4020_0000, 0x4600_0000);
        assert_eq!(regs[0], (PSTATE, 0x3c5));
        assert_eq!(regs[1], (x_reg(0), 0x4600_0000));
        assert_eq!(regs[5], (PC, 0x4020_0000));
        assert!(regs[2..5].iter().all(|&(_, v)| v == 0));
    }
}
