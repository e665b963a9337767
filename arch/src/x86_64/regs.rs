//! The boot CPU state for Linux's 64-bit boot protocol: long mode with paging on, an identity
//! map of the low 4 GiB, flat segments, `rsi` pointing at the zero page and `rip` at the
//! kernel's 64-bit entry (the caller computes it: load address + 0x200 for a bzImage, the ELF
//! entry for a vmlinux). Also the FPU, MSR and local-APIC LINT settings every vCPU starts with.

use kvm_bindings::{kvm_fpu, kvm_lapic_state, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

use super::boot::BootError;
use super::layout::{
    BOOT_GDT_START, BOOT_IDT_SIZE, BOOT_IDT_START, BOOT_PD_COUNT, BOOT_STACK_POINTER, PDE_START,
    PDPTE_START, PML4_START, ZERO_PAGE_START,
};

/// CR0: protected mode.
pub const CR0_PE: u64 = 1 << 0;
/// CR0: extension type (always 1 on modern CPUs).
pub const CR0_ET: u64 = 1 << 4;
/// CR0: native x87 error reporting.
pub const CR0_NE: u64 = 1 << 5;
/// CR0: not write-through (cleared: caches on).
pub const CR0_NW: u64 = 1 << 29;
/// CR0: cache disable (cleared: caches on).
pub const CR0_CD: u64 = 1 << 30;
/// CR0: paging.
pub const CR0_PG: u64 = 1 << 31;
/// CR4: physical address extension (needed for long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// EFER: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER: long mode active.
pub const EFER_LMA: u64 = 1 << 10;

/// Page-table entry bits: present, writable.
const PTE_PRESENT_RW: u64 = 0x3;
/// Page-directory entry bit: 2 MiB page.
const PDE_PAGE_SIZE: u64 = 0x80;
/// Entries in one page-table page.
const ENTRIES_PER_TABLE: u64 = 512;
/// 2 MiB.
const HUGE_PAGE_SIZE: u64 = 1 << 21;

/// GDT index of the 64-bit code segment (selector 0x08).
pub const GDT_CODE_INDEX: u16 = 1;
/// GDT index of the data segment (selector 0x10).
pub const GDT_DATA_INDEX: u16 = 2;
/// GDT index of the TSS (selector 0x18; the descriptor takes two slots in long mode).
pub const GDT_TSS_INDEX: u16 = 3;

/// One 8-byte segment descriptor, by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Segment base (bits 0..32).
    pub base: u32,
    /// 20-bit limit, in bytes or in 4 KiB units when `flags` has G.
    pub limit: u32,
    /// Access byte: P, DPL, S, type.
    pub access: u8,
    /// The 4-bit flags nibble: G (8), D/B (4), L (2), AVL (1).
    pub flags: u8,
}

/// Descriptor flag: limit counts 4 KiB units.
const DESC_G: u8 = 0x8;
/// Descriptor flag: 32-bit default operand size.
const DESC_DB: u8 = 0x4;
/// Descriptor flag: 64-bit code.
const DESC_L: u8 = 0x2;
/// Descriptor flag: available to software.
const DESC_AVL: u8 = 0x1;

impl Descriptor {
    /// Flat 64-bit code: present, ring 0, execute/read, accessed; G and L.
    pub const CODE64: Descriptor = Descriptor {
        base: 0,
        limit: 0xf_ffff,
        access: 0x9b,
        flags: DESC_G | DESC_L,
    };
    /// Flat data: present, ring 0, read/write, accessed; G and D/B.
    pub const DATA: Descriptor = Descriptor {
        base: 0,
        limit: 0xf_ffff,
        access: 0x93,
        flags: DESC_G | DESC_DB,
    };
    /// Task state segment: present, busy 64-bit TSS. KVM needs a valid TR to enter long
    /// mode; the kernel loads its own before it needs one.
    pub const TSS: Descriptor = Descriptor {
        base: 0,
        limit: 0xf_ffff,
        access: 0x8b,
        flags: DESC_G,
    };

    /// The descriptor as the CPU reads it from the GDT.
    pub fn encode(&self) -> u64 {
        let base = u64::from(self.base);
        let limit = u64::from(self.limit);
        (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (u64::from(self.access) << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (u64::from(self.flags & 0xf) << 52)
            | (((base >> 24) & 0xff) << 56)
    }

    /// Reads a descriptor back from its 8 GDT bytes.
    pub fn decode(raw: u64) -> Descriptor {
        Descriptor {
            base: (((raw >> 16) & 0xff_ffff) | (((raw >> 56) & 0xff) << 24)) as u32,
            limit: ((raw & 0xffff) | (((raw >> 48) & 0xf) << 16)) as u32,
            access: (raw >> 40) as u8,
            flags: ((raw >> 52) & 0xf) as u8,
        }
    }

    /// The KVM segment register loaded from this descriptor at GDT slot `index`.
    pub fn to_kvm_segment(&self, index: u16) -> kvm_segment {
        let present = (self.access >> 7) & 1;
        let g = u8::from(self.flags & DESC_G != 0);
        kvm_segment {
            base: u64::from(self.base),
            limit: if g == 1 {
                (self.limit << 12) | 0xfff
            } else {
                self.limit
            },
            selector: index * 8,
            type_: self.access & 0xf,
            present,
            dpl: (self.access >> 5) & 3,
            db: u8::from(self.flags & DESC_DB != 0),
            s: (self.access >> 4) & 1,
            l: u8::from(self.flags & DESC_L != 0),
            g,
            avl: u8::from(self.flags & DESC_AVL != 0),
            unusable: u8::from(present == 0),
            padding: 0,
        }
    }
}

/// The boot GDT: null, code, data, and the TSS as a 16-byte system descriptor (upper half 0:
/// base bits 32..64 are zero).
pub fn boot_gdt() -> [u64; 5] {
    [
        0,
        Descriptor::CODE64.encode(),
        Descriptor::DATA.encode(),
        Descriptor::TSS.encode(),
        0,
    ]
}

/// Writes the GDT, IDT and identity-map page tables into guest memory and puts `sregs` in
/// 64-bit long mode: flat code/data segments, CR0 = PE|ET|NE|PG (caches on: CD and NW are
/// cleared, which matters once KVM honours guest memory types for non-coherent DMA),
/// CR3 = [`PML4_START`], CR4 = PAE, EFER = LME|LMA. Other fields (APIC base, interrupt
/// bitmap, LDT) keep what KVM gave.
pub fn setup_long_mode<M: GuestMemoryBackend>(
    mem: &M,
    sregs: &mut kvm_sregs,
) -> Result<(), BootError> {
    write_gdt_idt(mem)?;
    write_page_tables(mem)?;

    let gdt = boot_gdt();
    let code = Descriptor::CODE64.to_kvm_segment(GDT_CODE_INDEX);
    let data = Descriptor::DATA.to_kvm_segment(GDT_DATA_INDEX);
    sregs.gdt.base = BOOT_GDT_START.0;
    sregs.gdt.limit = (gdt.len() * 8 - 1) as u16;
    sregs.idt.base = BOOT_IDT_START.0;
    sregs.idt.limit = (BOOT_IDT_SIZE - 1) as u16;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = Descriptor::TSS.to_kvm_segment(GDT_TSS_INDEX);

    sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    sregs.cr3 = PML4_START.0;
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    Ok(())
}

fn write_gdt_idt<M: GuestMemoryBackend>(mem: &M) -> Result<(), BootError> {
    let gdt: Vec<u8> = boot_gdt().iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.write_slice(&gdt, BOOT_GDT_START)
        .map_err(BootError::memory("boot GDT", BOOT_GDT_START))?;
    let idt = [0u8; BOOT_IDT_SIZE as usize];
    mem.write_slice(&idt, BOOT_IDT_START)
        .map_err(BootError::memory("boot IDT", BOOT_IDT_START))
}

/// Identity-maps `BOOT_PD_COUNT` GiB with 2 MiB pages: PML4[0] -> PDPT, PDPT[i] -> PD i,
/// PD i[j] -> (i * 512 + j) * 2 MiB.
fn write_page_tables<M: GuestMemoryBackend>(mem: &M) -> Result<(), BootError> {
    let pml4 = table_bytes((0..1).map(|_| PDPTE_START.0 | PTE_PRESENT_RW));
    mem.write_slice(&pml4, PML4_START)
        .map_err(BootError::memory("boot PML4", PML4_START))?;
    let pdpt = table_bytes((0..BOOT_PD_COUNT).map(|i| (PDE_START.0 + i * 0x1000) | PTE_PRESENT_RW));
    mem.write_slice(&pdpt, PDPTE_START)
        .map_err(BootError::memory("boot PDPT", PDPTE_START))?;
    let pds = table_bytes(
        (0..BOOT_PD_COUNT * ENTRIES_PER_TABLE)
            .map(|n| (n * HUGE_PAGE_SIZE) | PTE_PRESENT_RW | PDE_PAGE_SIZE),
    );
    mem.write_slice(&pds, PDE_START)
        .map_err(BootError::memory("boot page directories", PDE_START))
}

/// Page-table pages holding `entries`, zero-padded to whole 4 KiB pages.
fn table_bytes(entries: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut bytes: Vec<u8> = entries.flat_map(|e| e.to_le_bytes()).collect();
    bytes.resize(bytes.len().div_ceil(4096).max(1) * 4096, 0);
    bytes
}

/// General registers at the 64-bit entry: `rip` = `entry`, `rsi` = the zero page, a stack
/// at [`BOOT_STACK_POINTER`], and only the reserved bit 1 of RFLAGS set.
pub fn boot_regs(entry: GuestAddress) -> kvm_regs {
    kvm_regs {
        rflags: 0x2,
        rip: entry.0,
        rsp: BOOT_STACK_POINTER.0,
        rbp: BOOT_STACK_POINTER.0,
        rsi: ZERO_PAGE_START.0,
        ..Default::default()
    }
}

/// x87 and SSE control state after FNINIT / at reset: all exceptions masked.
pub fn boot_fpu() -> kvm_fpu {
    kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    }
}

/// MSR numbers set at boot.
pub mod msr_index {
    /// Time-stamp counter.
    pub const IA32_TSC: u32 = 0x10;
    /// SYSENTER code segment.
    pub const IA32_SYSENTER_CS: u32 = 0x174;
    /// SYSENTER stack pointer.
    pub const IA32_SYSENTER_ESP: u32 = 0x175;
    /// SYSENTER entry point.
    pub const IA32_SYSENTER_EIP: u32 = 0x176;
    /// Miscellaneous feature enables.
    pub const IA32_MISC_ENABLE: u32 = 0x1a0;
    /// Default MTRR memory type and MTRR enable.
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    /// SYSCALL segments.
    pub const STAR: u32 = 0xc000_0081;
    /// 64-bit SYSCALL entry point.
    pub const LSTAR: u32 = 0xc000_0082;
    /// Compatibility-mode SYSCALL entry point.
    pub const CSTAR: u32 = 0xc000_0083;
    /// RFLAGS mask applied by SYSCALL.
    pub const SYSCALL_MASK: u32 = 0xc000_0084;
    /// GS base swapped in by SWAPGS.
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
}

/// IA32_MISC_ENABLE: fast string operations.
pub const MISC_ENABLE_FAST_STRING: u64 = 1;
/// MTRR default type register: MTRRs enabled (bit 11), default type write-back (6). Without
/// it all guest memory would be uncacheable wherever KVM honours guest MTRRs (VFIO devices
/// without snooping DMA).
pub const MTRR_DEF_TYPE_ENABLED_WB: u64 = (1 << 11) | 6;

/// The MSR values every vCPU starts with: the system-call MSRs and TSC cleared, fast
/// strings on, and MTRRs enabled with write-back as the default type.
pub fn boot_msrs() -> Vec<kvm_msr_entry> {
    use msr_index::*;
    [
        (IA32_SYSENTER_CS, 0),
        (IA32_SYSENTER_ESP, 0),
        (IA32_SYSENTER_EIP, 0),
        (STAR, 0),
        (CSTAR, 0),
        (KERNEL_GS_BASE, 0),
        (SYSCALL_MASK, 0),
        (LSTAR, 0),
        (IA32_TSC, 0),
        (IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
        (MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLED_WB),
    ]
    .into_iter()
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    })
    .collect()
}

/// Offset of LVT LINT0 in the local APIC register page.
pub const APIC_LVT0: usize = 0x350;
/// Offset of LVT LINT1 in the local APIC register page.
pub const APIC_LVT1: usize = 0x360;
/// LVT delivery mode: NMI.
pub const APIC_MODE_NMI: u32 = 0x4;
/// LVT delivery mode: external interrupt (the 8259 PIC).
pub const APIC_MODE_EXTINT: u32 = 0x7;

/// The classic PC wiring of the local APIC: LINT0 delivers the PIC's interrupts (ExtINT),
/// LINT1 delivers NMIs. The caller reads the state with `get_lapic` and writes it back
/// with `set_lapic`.
pub fn set_lint(lapic: &mut kvm_lapic_state) {
    let lint0 = lapic_reg(lapic, APIC_LVT0);
    set_lapic_reg(
        lapic,
        APIC_LVT0,
        with_delivery_mode(lint0, APIC_MODE_EXTINT),
    );
    let lint1 = lapic_reg(lapic, APIC_LVT1);
    set_lapic_reg(lapic, APIC_LVT1, with_delivery_mode(lint1, APIC_MODE_NMI));
}

/// Reads a 32-bit local APIC register at `offset`.
pub fn lapic_reg(lapic: &kvm_lapic_state, offset: usize) -> u32 {
    let bytes: [u8; 4] = std::array::from_fn(|i| lapic.regs[offset + i] as u8);
    u32::from_le_bytes(bytes)
}

fn set_lapic_reg(lapic: &mut kvm_lapic_state, offset: usize, value: u32) {
    for (i, b) in value.to_le_bytes().into_iter().enumerate() {
        lapic.regs[offset + i] = b as _;
    }
}

/// `reg` with its delivery-mode field (bits 8..11) set to `mode`.
fn with_delivery_mode(reg: u32, mode: u32) -> u32 {
    (reg & !0x700) | (mode << 8)
}

#[cfg(test)]
mod tests;
