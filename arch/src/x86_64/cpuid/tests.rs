//! CPUID adjustments on synthetic KVM outputs for an Intel and an AMD host.

use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

use super::*;

fn leaf(function: u32, index: u32, regs: [u32; 4]) -> kvm_cpuid_entry2 {
    kvm_cpuid_entry2 {
        function,
        index,
        flags: if index > 0 || matches!(function, 4 | 0xb | 0x1f | 0x8000_001d) {
            KVM_CPUID_FLAG_SIGNIFCANT_INDEX
        } else {
            0
        },
        eax: regs[0],
        ebx: regs[1],
        ecx: regs[2],
        edx: regs[3],
        ..Default::default()
    }
}

fn vendor_leaf(max: u32, name: &[u8; 12]) -> kvm_cpuid_entry2 {
    let word = |i: usize| u32::from_le_bytes(name[i..i + 4].try_into().unwrap());
    leaf(0, 0, [max, word(0), word(8), word(4)])
}

/// Leaves as KVM might report them on an 8-core, 16-thread Intel host.
fn intel_host() -> CpuId {
    CpuId::from_entries(&[
        vendor_leaf(0x1f, b"GenuineIntel"),
        // APIC id 0x0b, 16 logical, CLFLUSH 8, brand 0; ECX with PDCM; EDX with HTT.
        leaf(
            1,
            0,
            [
                0x000906ea,
                0x0b10_0800,
                0x7ffa_fbff | LEAF1_ECX_PDCM,
                0xbfeb_fbff,
            ],
        ),
        // L1d, L1i, L2, L3 (shared by 16), then the null entry.
        leaf(4, 0, [0x1c00_4121, 0x01c0_003f, 0x3f, 0]),
        leaf(4, 1, [0x1c00_4122, 0x01c0_003f, 0x3f, 0]),
        leaf(4, 2, [0x1c00_4143, 0x00c0_003f, 0x3ff, 0]),
        leaf(4, 3, [0x1c03_c163, 0x03c0_003f, 0x3fff, 6]),
        leaf(4, 4, [0, 0, 0, 0]),
        // Turbo (bit 1), ARAT (bit 2), HWP (bit 7); EPB in ECX bit 3.
        leaf(6, 0, [0x0000_0087, 0x2, 0x9, 0]),
        leaf(0xa, 0, [0x0704_3004, 0, 0, 0x0000_0603]),
        leaf(0xb, 0, [1, 2, 0x100, 0x0b]),
        leaf(0xb, 1, [4, 16, 0x201, 0x0b]),
        leaf(0xb, 2, [0, 0, 2, 0x0b]),
        leaf(0x1f, 0, [1, 2, 0x100, 0x0b]),
        leaf(0x1f, 1, [4, 16, 0x201, 0x0b]),
        leaf(0x8000_0001, 0, [0, 0, 0x121, 0x2c10_0800]),
        leaf(0x8000_0008, 0, [0x3027, 0, 0, 0]),
    ])
    .unwrap()
}

/// Leaves as KVM reports them under QEMU's EPYC model (the lab host).
fn amd_host() -> CpuId {
    CpuId::from_entries(&[
        vendor_leaf(0xd, b"AuthenticAMD"),
        leaf(1, 0, [0x00800f12, 0x0508_0800, 0xfed8_3203, 0x178b_fbff]),
        leaf(6, 0, [0x4, 0, 0, 0]),
        leaf(0xa, 0, [0, 0, 0, 0]),
        leaf(0xb, 0, [1, 2, 0x100, 5]),
        leaf(0xb, 1, [3, 8, 0x201, 5]),
        // TOPOEXT (bit 22) and CmpLegacy (bit 1) from the host.
        leaf(0x8000_0001, 0, [0x00800f12, 0, 0x0040_35f3, 0x2fd3_fbff]),
        leaf(0x8000_0008, 0, [0x3030, 0x1001, 0x0000_4007, 0]),
        // L1d, L1i, L2, L3 (shared by 8), null.
        leaf(0x8000_001d, 0, [0x0000_4121, 0x01c0_003f, 0x3f, 0]),
        leaf(0x8000_001d, 1, [0x0000_4122, 0x00c0_003f, 0xff, 0]),
        leaf(0x8000_001d, 2, [0x0000_4143, 0x01c0_003f, 0x3ff, 2]),
        leaf(0x8000_001d, 3, [0x0001_c163, 0x03c0_003f, 0x3fff, 1]),
        leaf(0x8000_001d, 4, [0, 0, 0, 0]),
        leaf(0x8000_001e, 0, [5, 0x0102, 0x0301, 0]),
    ])
    .unwrap()
}

fn get(cpuid: &CpuId, function: u32, index: u32) -> [u32; 4] {
    let e = cpuid
        .as_slice()
        .iter()
        .find(|e| e.function == function && e.index == index)
        .unwrap_or_else(|| panic!("leaf {function:#x}.{index} missing"));
    [e.eax, e.ebx, e.ecx, e.edx]
}

fn configured(host: fn() -> CpuId, vcpu_id: u8, nr_vcpus: u8) -> CpuId {
    let mut cpuid = host();
    configure_cpuid(&mut cpuid, vcpu_id, nr_vcpus);
    cpuid
}

#[test]
fn vendors_are_recognised() {
    assert_eq!(vendor(&intel_host()), Vendor::Intel);
    assert_eq!(vendor(&amd_host()), Vendor::Amd);
    let hygon = CpuId::from_entries(&[vendor_leaf(0xd, b"HygonGenuine")]).unwrap();
    assert_eq!(vendor(&hygon), Vendor::Amd);
    let other = CpuId::from_entries(&[vendor_leaf(0xd, b"VIA VIA VIA ")]).unwrap();
    assert_eq!(vendor(&other), Vendor::Other);
    assert_eq!(vendor(&CpuId::new(0).unwrap()), Vendor::Other);
}

#[test]
fn intel_one_vcpu() {
    let c = configured(intel_host, 0, 1);
    let [_, ebx, ecx, edx] = get(&c, 1, 0);
    assert_eq!(
        ebx, 0x0001_0800,
        "APIC id 0, 1 logical CPU, CLFLUSH 64 bytes"
    );
    assert_ne!(ecx & (1 << 31), 0, "hypervisor bit");
    assert_ne!(ecx & (1 << 24), 0, "TSC deadline");
    assert_eq!(ecx & LEAF1_ECX_PDCM, 0);
    assert_eq!(edx & LEAF1_EDX_HTT, 0, "no HTT with one CPU");
    // Leaf 4: one core per package, nothing shared.
    for index in 0..4 {
        let eax = get(&c, 4, index)[0];
        assert_eq!(eax >> 26, 0, "leaf 4.{index} cores");
        assert_eq!((eax >> 14) & 0xfff, 0, "leaf 4.{index} sharing");
        assert_eq!(eax & 0x3fff, [0x121, 0x122, 0x143, 0x163][index as usize]);
    }
    assert_eq!(get(&c, 4, 4), [0; 4], "null cache entry left alone");
    assert_eq!(get(&c, 0xb, 0), [0, 1, 0x100, 0]);
    assert_eq!(get(&c, 0xb, 1), [0, 1, 0x201, 0]);
    assert_eq!(get(&c, 0xb, 2), [0, 0, 2, 0]);
    assert_eq!(get(&c, 0x1f, 1), [0, 1, 0x201, 0]);
}

#[test]
fn intel_vcpu_2_of_4() {
    let c = configured(intel_host, 2, 4);
    let [eax, ebx, _, edx] = get(&c, 1, 0);
    assert_eq!(eax, 0x000906ea, "signature untouched");
    assert_eq!(ebx, 0x0204_0800);
    assert_ne!(edx & LEAF1_EDX_HTT, 0);
    for index in 0..3 {
        let eax = get(&c, 4, index)[0];
        assert_eq!((eax >> 26, (eax >> 14) & 0xfff), (3, 0), "leaf 4.{index}");
    }
    let l3 = get(&c, 4, 3);
    assert_eq!((l3[0] >> 26, (l3[0] >> 14) & 0xfff), (3, 3));
    assert_eq!(
        &l3[1..],
        &[0x03c0_003f, 0x3fff, 6],
        "cache geometry untouched"
    );
    for leaf in [0xb, 0x1f] {
        assert_eq!(get(&c, leaf, 0), [0, 1, 0x100, 2]);
        assert_eq!(get(&c, leaf, 1), [2, 4, 0x201, 2]);
    }
    assert_eq!(get(&c, 0xb, 2), [0, 0, 2, 2]);
    // AMD-only leaves are left alone on Intel.
    assert_eq!(get(&c, 0x8000_0001, 0)[2], 0x121);
    assert_eq!(get(&c, 0x8000_0008, 0), [0x3027, 0, 0, 0]);
}

#[test]
fn power_and_perf_leaves_are_hidden() {
    let c = configured(intel_host, 0, 4);
    assert_eq!(get(&c, 6, 0), [LEAF6_EAX_ARAT, 0, 0, 0]);
    assert_eq!(get(&c, 0xa, 0), [0; 4]);
}

#[test]
fn amd_one_vcpu() {
    let c = configured(amd_host, 0, 1);
    let [_, ebx, ecx, edx] = get(&c, 1, 0);
    assert_eq!(ebx, 0x0001_0800);
    assert_ne!(ecx & (1 << 31), 0);
    assert_eq!(edx & LEAF1_EDX_HTT, 0);
    let ext1_ecx = get(&c, 0x8000_0001, 0)[2];
    assert_eq!(ext1_ecx & EXT1_ECX_CMP_LEGACY, 0, "one core: no CmpLegacy");
    assert_ne!(ext1_ecx & (1 << 22), 0, "TOPOEXT kept");
    assert_eq!(get(&c, 0x8000_0008, 0), [0x3030, 0x1001, 0, 0]);
    assert_eq!(get(&c, 0x8000_001e, 0), [0, 0, 0, 0]);
    for index in 0..4 {
        assert_eq!((get(&c, 0x8000_001d, index)[0] >> 14) & 0xfff, 0);
    }
    assert_eq!(get(&c, 0xb, 1), [0, 1, 0x201, 0]);
}

#[test]
fn amd_vcpu_3_of_4() {
    let c = configured(amd_host, 3, 4);
    let [_, ebx, _, edx] = get(&c, 1, 0);
    assert_eq!(ebx, 0x0304_0800);
    assert_ne!(edx & LEAF1_EDX_HTT, 0);
    assert_ne!(get(&c, 0x8000_0001, 0)[2] & EXT1_ECX_CMP_LEGACY, 0);
    // NC = 3, ApicIdSize = 2; the EPYC host's NC (7) and ApicIdSize (4) are gone.
    assert_eq!(get(&c, 0x8000_0008, 0)[2], 0x2003);
    assert_eq!(get(&c, 0x8000_001e, 0), [3, 3, 0, 0]);
    let sharing: Vec<u32> = (0..4)
        .map(|i| (get(&c, 0x8000_001d, i)[0] >> 14) & 0xfff)
        .collect();
    assert_eq!(sharing, vec![0, 0, 0, 3]);
    assert_eq!(
        get(&c, 0x8000_001d, 3)[0] & 0x3fff,
        0x163,
        "type and level kept"
    );
    assert_eq!(get(&c, 0x8000_001d, 4), [0; 4]);
    assert_eq!(get(&c, 0xb, 0), [0, 1, 0x100, 3]);
    assert_eq!(get(&c, 0xb, 1), [2, 4, 0x201, 3]);
}

#[test]
fn odd_core_counts_round_the_apic_id_width_up() {
    let c = configured(intel_host, 4, 5);
    assert_eq!(get(&c, 0xb, 1), [3, 5, 0x201, 4]);
    let c = configured(amd_host, 2, 3);
    assert_eq!(get(&c, 0x8000_0008, 0)[2], 0x2002);
}

#[test]
fn zero_vcpus_is_treated_as_one() {
    let c = configured(intel_host, 0, 0);
    assert_eq!(get(&c, 1, 0)[1], 0x0001_0800);
    assert_eq!(get(&c, 0xb, 1), [0, 1, 0x201, 0]);
}
