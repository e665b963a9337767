//! Tests of the boot GDT, page tables and register values.

use kvm_bindings::{kvm_lapic_state, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::*;

const GIB: u64 = 1 << 30;

fn memory() -> GuestMemoryMmap {
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap()
}

fn long_mode() -> (GuestMemoryMmap, kvm_sregs) {
    let mem = memory();
    // KVM's reset value of CR0 has CD and NW set; they must be gone afterwards.
    let mut sregs = kvm_sregs {
        cr0: 0x6000_0010,
        apic_base: 0xfee0_0900,
        ..Default::default()
    };
    setup_long_mode(&mem, &mut sregs).unwrap();
    (mem, sregs)
}

#[test]
fn descriptors_encode_to_the_usual_values() {
    // The values every x86 VMM writes: flags 0xa09b, 0xc093, 0x808b with limit 0xfffff.
    assert_eq!(Descriptor::CODE64.encode(), 0x00af_9b00_0000_ffff);
    assert_eq!(Descriptor::DATA.encode(), 0x00cf_9300_0000_ffff);
    assert_eq!(Descriptor::TSS.encode(), 0x008f_8b00_0000_ffff);
}

#[test]
fn descriptor_round_trips_every_field() {
    let d = Descriptor {
        base: 0x1234_5678,
        limit: 0xa_bcde,
        access: 0x92,
        flags: 0x5,
    };
    assert_eq!(d.encode(), 0x125a_9234_5678_bcde);
    assert_eq!(Descriptor::decode(d.encode()), d);
}

#[test]
fn gdt_in_memory_decodes_to_the_segments_in_sregs() {
    let (mem, sregs) = long_mode();
    assert_eq!(sregs.gdt.base, 0x500);
    assert_eq!(sregs.gdt.limit, 39);
    let mut raw = [0u8; 40];
    mem.read_slice(&mut raw, GuestAddress(sregs.gdt.base))
        .unwrap();
    let entries: Vec<u64> = raw
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(entries[0], 0, "null descriptor");
    assert_eq!(entries[4], 0, "upper half of the 16-byte TSS descriptor");
    for (seg, name) in [
        (sregs.cs, "cs"),
        (sregs.ds, "ds"),
        (sregs.es, "es"),
        (sregs.fs, "fs"),
        (sregs.gs, "gs"),
        (sregs.ss, "ss"),
        (sregs.tr, "tr"),
    ] {
        let index = usize::from(seg.selector / 8);
        let decoded = Descriptor::decode(entries[index]).to_kvm_segment(index as u16);
        assert_eq!(decoded, seg, "{name} (selector {:#x})", seg.selector);
    }
    // What KVM checks for 64-bit mode.
    assert_eq!((sregs.cs.selector, sregs.cs.l, sregs.cs.db), (0x08, 1, 0));
    assert_eq!(
        (sregs.cs.type_, sregs.cs.s, sregs.cs.present, sregs.cs.dpl),
        (0xb, 1, 1, 0)
    );
    assert_eq!(
        (sregs.ds.selector, sregs.ds.type_, sregs.ds.db),
        (0x10, 0x3, 1)
    );
    assert_eq!(
        (sregs.tr.selector, sregs.tr.type_, sregs.tr.s),
        (0x18, 0xb, 0)
    );
    assert_eq!(sregs.cs.limit, 0xffff_ffff);
    assert_eq!(sregs.cs.unusable, 0);
}

#[test]
fn idt_is_one_empty_gate() {
    let (mem, sregs) = long_mode();
    assert_eq!((sregs.idt.base, sregs.idt.limit), (0x540, 15));
    let idt: [u8; 16] = mem.read_obj(GuestAddress(0x540)).unwrap();
    assert_eq!(idt, [0; 16]);
}

#[test]
fn control_registers_select_long_mode_with_caches_on() {
    let (_, sregs) = long_mode();
    assert_eq!(sregs.cr0, 0x8000_0031);
    assert_eq!(sregs.cr0 & (CR0_CD | CR0_NW), 0);
    assert_eq!(sregs.cr3, 0x9000);
    assert_eq!(sregs.cr4, 0x20);
    assert_eq!(sregs.efer, 0x500);
    assert_eq!(sregs.apic_base, 0xfee0_0900, "left as KVM set it");
}

/// Walks the guest's 4-level page tables from CR3; `None` when an entry is not present.
fn translate(mem: &GuestMemoryMmap, cr3: u64, va: u64) -> Option<u64> {
    let entry = |table: u64, index: u64| -> u64 {
        mem.read_obj(GuestAddress((table & !0xfff) + index * 8))
            .unwrap()
    };
    let pml4e = entry(cr3, (va >> 39) & 0x1ff);
    if pml4e & 1 == 0 {
        return None;
    }
    let pdpte = entry(pml4e & 0x000f_ffff_ffff_f000, (va >> 30) & 0x1ff);
    if pdpte & 1 == 0 {
        return None;
    }
    assert_eq!(pdpte & 0x80, 0, "no 1 GiB pages expected");
    let pde = entry(pdpte & 0x000f_ffff_ffff_f000, (va >> 21) & 0x1ff);
    if pde & 1 == 0 {
        return None;
    }
    assert_eq!(
        pde & 0x83,
        0x83,
        "PDE {pde:#x} must be a present, writable 2 MiB page"
    );
    Some((pde & 0x000f_ffff_ffe0_0000) | (va & 0x1f_ffff))
}

#[test]
fn page_tables_identity_map_the_low_4gib() {
    let (mem, sregs) = long_mode();
    for addr in [
        0,
        0x7000,
        0x8ff0,
        0x10_0000,
        0x1f_ffff,
        0x20_0000,
        0x3fff_ffff,
        0x4000_0000,
        0xbfff_f000,
        0xfee0_0000,
        4 * GIB - 1,
    ] {
        assert_eq!(translate(&mem, sregs.cr3, addr), Some(addr), "{addr:#x}");
    }
    assert_eq!(translate(&mem, sregs.cr3, 4 * GIB), None);
    assert_eq!(translate(&mem, sregs.cr3, 512 * GIB), None);
}

#[test]
fn boot_structures_outside_ram_are_errors() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x10_0000), 1 << 20)]).unwrap();
    let err = setup_long_mode(&mem, &mut kvm_sregs::default()).unwrap_err();
    assert!(err.to_string().contains("boot GDT at 0x500"), "{err}");
}

#[test]
fn boot_regs_enter_at_the_given_address() {
    let regs = boot_regs(GuestAddress(0x10_0200));
    assert_eq!(regs.rip, 0x10_0200);
    assert_eq!(regs.rsi, 0x7000);
    assert_eq!((regs.rsp, regs.rbp), (0x8ff0, 0x8ff0));
    assert_eq!(regs.rflags, 2);
    assert_eq!((regs.rax, regs.rdi), (0, 0));
}

#[test]
fn fpu_has_exceptions_masked() {
    let fpu = boot_fpu();
    assert_eq!((fpu.fcw, fpu.mxcsr), (0x37f, 0x1f80));
}

#[test]
fn msrs_cover_syscall_tsc_and_mtrr() {
    let msrs: Vec<(u32, u64)> = boot_msrs().iter().map(|m| (m.index, m.data)).collect();
    assert_eq!(msrs.len(), 11);
    for index in [
        0x174,
        0x175,
        0x176,
        0xc000_0081,
        0xc000_0082,
        0xc000_0083,
        0xc000_0084,
    ] {
        assert!(msrs.contains(&(index, 0)), "{index:#x}");
    }
    assert!(msrs.contains(&(0xc000_0102, 0)));
    assert!(msrs.contains(&(0x10, 0)));
    assert!(msrs.contains(&(0x1a0, 1)));
    assert!(msrs.contains(&(0x2ff, 0x806)));
}

#[test]
fn lint0_is_extint_and_lint1_is_nmi() {
    let mut lapic = kvm_lapic_state { regs: [0; 1024] };
    // Reset values: masked (bit 16), with a stale vector and delivery mode.
    set_lapic_reg(&mut lapic, APIC_LVT0, 0x0001_0020);
    set_lapic_reg(&mut lapic, APIC_LVT1, 0x0001_0520);
    lapic.regs[0x340] = 0x55;
    set_lint(&mut lapic);
    assert_eq!(lapic_reg(&lapic, APIC_LVT0), 0x0001_0720);
    assert_eq!(lapic_reg(&lapic, APIC_LVT1), 0x0001_0420);
    assert_eq!(lapic.regs[0x340], 0x55, "neighbouring register untouched");
}
